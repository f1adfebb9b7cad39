// expect: encoded-payload@4:11, encoded-payload@5:11, encoded-payload@5:38
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const s = String.fromCharCode(101, 118, 97, 108);
const t = String.fromCharCode(101) + String.fromCharCode(118);
export default function App() { return ui.Window({ title: 'x' }, [s, t]); }
