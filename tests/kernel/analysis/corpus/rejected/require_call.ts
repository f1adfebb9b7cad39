// expect: import-not-allowed@4:12
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const cp = require('child_process');
export default function App() { return ui.Window({ title: 'x' }, []); }
