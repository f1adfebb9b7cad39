// expect: encoded-payload@4:11
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const s = atob('ZXZhbA==');
export default function App() { return ui.Window({ title: 'x' }, [s]); }
