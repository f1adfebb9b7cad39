// expect: no-prototype-tampering@4:1, no-prototype-tampering@5:1, no-prototype-tampering@6:1, no-prototype-tampering@7:1
// manifest: ui:window
import { ui } from '@llm-os/sdk';
Array.prototype.map = function () { return []; };
Object.setPrototypeOf({}, null);
Reflect.setPrototypeOf({}, null);
Object.defineProperty(String.prototype, 'x', { value: 1 });
export default function App() { return ui.Window({ title: 'x' }, []); }
