// expect: encoded-payload@4:14
// manifest: ui:window
import { ui } from '@llm-os/sdk';
const blob = 'ZnVuY3Rpb24gc3RlYWwoKSB7IHJldHVybiBkb2N1bWVudC5jb29raWU7IH0gc3RlYWwoKTs7Ozs7Ow==';
export default function App() { return ui.Window({ title: 'x' }, [blob]); }
