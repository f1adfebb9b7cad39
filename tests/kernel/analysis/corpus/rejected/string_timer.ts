// expect: no-string-timer@4:12, no-string-timer@5:13
// manifest: ui:window
import { ui } from '@llm-os/sdk';
setTimeout('alert(1)', 10);
setInterval(`tick()`, 1000);
export default function App() { return ui.Window({ title: 'x' }, []); }
