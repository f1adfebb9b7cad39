// expect: no-eval@4:11
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const x = eval('1 + 1');
export default function App() { return ui.Window({ title: 'x' }, [String(x)]); }
