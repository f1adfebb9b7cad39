// expect: encoded-payload@4:11, encoded-payload@5:7
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const s = '\x65\x76\x61\x6c\x28\x31\x29\x3b';
const \u0065val2 = 1;
export default function App() { return ui.Window({ title: 'x' }, [s]); }
