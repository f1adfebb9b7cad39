// expect: no-dynamic-import@4:13, no-dynamic-import@5:15
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const mod = import('./evil.js');
const where = import.meta.url;
export default function App() { return ui.Window({ title: 'x' }, []); }
