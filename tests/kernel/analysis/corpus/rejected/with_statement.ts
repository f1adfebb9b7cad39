// expect: no-with@5:1
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const o = { a: 1 };
with (o) { a = 2; }
export default function App() { return ui.Window({ title: 'x' }, []); }
