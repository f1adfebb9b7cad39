// Each button misbehaves in one way; the host must stop the app and survive.
import { ui } from '@llm-os/sdk';

export default function App() {
  const [nodes, setNodes] = ui.useState<number>(1);
  const spin = () => { for (;;) { /* runaway */ } };
  const hog = () => { const keep: number[] = []; let i = 0; for (;;) keep.push(i++); };
  const dive = () => { const f = (n: number): number => f(n + 1) + 1; f(0); };
  const grow = () => setNodes(100000);
  const items = [];
  for (let i = 0; i < nodes; i++) items.push(ui.Text({}, i));
  return ui.Window({ title: 'abuse' }, [
    ui.Button({ onClick: spin }, 'spin'),
    ui.Button({ onClick: hog }, 'hog'),
    ui.Button({ onClick: dive }, 'dive'),
    ui.Button({ onClick: grow }, 'grow'),
    ui.Column({}, items),
  ]);
}
