// expect: no-global-object@4:11, no-global-object@5:11, no-global-object@6:11, no-global-object@7:13
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const a = globalThis;
const b = self.location;
const c = global;
const d = { window };
export default function App() { return ui.Window({ title: 'x' }, []); }
