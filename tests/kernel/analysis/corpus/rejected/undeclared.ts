// expect: undeclared-capability@5:21, undeclared-capability@6:3, undeclared-capability@7:3, undeclared-capability@8:3, undeclared-capability@9:3, undeclared-capability@10:3
// manifest: ui:window
import { ui, storage, timer, net, clipboard, bus } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = storage.useLocal('n', 0);
  timer.useInterval(() => setN(n + 1), 1000);
  net.fetch('https://api.example.com/data');
  clipboard.write('x');
  bus.publish('chat', 'hi');
  ui.notify('done');
  return ui.Window({ title: 'x' }, [n]);
}
