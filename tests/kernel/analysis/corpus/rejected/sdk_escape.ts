// expect: no-computed-sdk-access@5:17
// manifest: ui:window
import { ui, net } from '@llm-os/sdk';
function sneak(o: any, k: string) { return o[k]; }
const f = sneak(net, 'fe' + 'tch');
export default function App() { return ui.Window({ title: 'x' }, []); }
