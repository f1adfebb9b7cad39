// expect: no-proto@5:13, no-proto@6:13
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const o: any = {};
const p = o.__proto__;
const q = { __proto__: null };
export default function App() { return ui.Window({ title: 'x' }, []); }
