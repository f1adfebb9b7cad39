// expect: no-global-object@4:1, no-eval@4:12, no-global-object@5:1, no-eval@5:8
// manifest: ui:window
import { ui } from '@llm-os/sdk';
globalThis.eval('3');
window['eval']('4');
export default function App() { return ui.Window({ title: 'x' }, []); }
