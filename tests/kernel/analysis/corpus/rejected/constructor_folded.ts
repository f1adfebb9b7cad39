// expect: no-function-constructor@5:14, no-function-constructor@5:19
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const key = 'constr' + 'uctor';
const F = [][key][key];
export default function App() { return ui.Window({ title: 'x' }, [F('return 1')()]); }
