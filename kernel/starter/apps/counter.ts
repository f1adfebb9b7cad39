import { ui, storage } from '@llm-os/sdk';

export default function App() {
  const [count, setCount] = storage.useLocal('count', 0);

  return ui.Window({ title: 'Counter', padding: 16, gap: 12 }, [
    ui.Text({ size: 'xl', bold: true }, count),
    ui.Row({ gap: 8 }, [
      ui.Button({ onClick: () => setCount(count - 1) }, '-1'),
      ui.Button({ onClick: () => setCount(count + 1) }, '+1'),
      ui.Button({ onClick: () => setCount(0) }, 'Reset'),
    ]),
  ]);
}
