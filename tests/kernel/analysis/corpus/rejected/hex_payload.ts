// expect: encoded-payload@4:14
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const blob = "6576616c28616c657274282268656c6c6f222929202f2f2068696464656e20636f6465";
export default function App() { return ui.Window({ title: 'x' }, [blob]); }
