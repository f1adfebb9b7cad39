// expect: no-eval@4:17
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const run = (0, eval);
run('2');
export default function App() { return ui.Window({ title: 'x' }, []); }
