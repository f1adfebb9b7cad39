// expect: no-function-constructor@4:15, no-function-constructor@5:11
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const f = new Function('return 1');
const g = Function('return 2');
export default function App() { return ui.Window({ title: 'x' }, [f(), g()]); }
