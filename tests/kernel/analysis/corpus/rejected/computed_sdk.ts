// expect: no-computed-sdk-access@5:11, no-computed-sdk-access@6:11, no-computed-sdk-access@7:11
// manifest: ui:window, network:api.example.com
import { ui, net, caps } from '@llm-os/sdk';
const name = 'Window';
const w = ui[name];
const f = net['fetch'];
const c = caps[0];
export default function App() { return ui.Window({ title: 'x' }, []); }
