// expect: syntax-error@5:19
// manifest: ui:window
import { ui } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'x' }, [;
}
