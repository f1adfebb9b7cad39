import { ui } from '@llm-os/sdk';

const FACES = [4, 6, 8, 10, 12, 20];

export default function App() {
  const [sides, setSides] = ui.useState(6);
  const [count, setCount] = ui.useState(2);
  const [rolls, setRolls] = ui.useState<number[]>([]);

  const roll = () => {
    const next: number[] = [];
    for (let i = 0; i < count; i++) next.push(1 + Math.floor(Math.random() * sides));
    setRolls(next);
  };
  const total = rolls.reduce((sum, value) => sum + value, 0);

  return ui.Window({ title: 'Dice Roller', padding: 12, gap: 8 }, [
    ui.Row({ gap: 4 }, FACES.map((face) =>
      ui.Button({ onClick: () => setSides(face), disabled: face === sides }, `d${face}`))),
    ui.Text({}, `Dice: ${count}`),
    ui.Slider({ value: count, min: 1, max: 10, step: 1, onChange: setCount }),
    ui.Button({ onClick: roll }, `Roll ${count}d${sides}`),
    ui.Text({ size: 'lg' }, rolls.length ? rolls.join('  ') : 'Not rolled yet'),
    ui.Text({ size: 'xl', bold: true }, rolls.length ? `Total ${total}` : ''),
  ]);
}
