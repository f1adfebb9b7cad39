// expect: no-function-constructor@4:22, no-function-constructor@5:14, no-function-constructor@5:26, no-function-constructor@6:28, no-function-constructor@7:29
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const F = (() => {}).constructor;
const G = ui.constructor.constructor;
const A = (async () => {}).constructor;
const H = (function* () {})['constructor'];
export default function App() { return ui.Window({ title: 'x' }, []); }
