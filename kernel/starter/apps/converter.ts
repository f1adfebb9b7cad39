import { ui } from '@llm-os/sdk';

type Unit = { name: string; factor: number };
const LENGTHS: Unit[] = [
  { name: 'metres', factor: 1 },
  { name: 'kilometres', factor: 1000 },
  { name: 'feet', factor: 0.3048 },
  { name: 'miles', factor: 1609.344 },
  { name: 'inches', factor: 0.0254 },
];

export default function App() {
  const [amount, setAmount] = ui.useState('1');
  const [from, setFrom] = ui.useState(0);
  const value = Number(amount);
  const valid = amount.trim() !== '' && Number.isFinite(value);
  const metres = valid ? value * LENGTHS[from].factor : 0;

  return ui.Window({ title: 'Unit Converter', padding: 12, gap: 8 }, [
    ui.TextInput({ value: amount, placeholder: 'Amount', onChange: setAmount }),
    ui.Text({ bold: true }, `From: ${LENGTHS[from].name}`),
    ui.List({ items: LENGTHS.map((unit) => unit.name), onSelect: setFrom, height: 120 }),
    ui.Column({ gap: 4 }, valid
      ? LENGTHS.map((unit) => ui.Text({}, `${(metres / unit.factor).toPrecision(6)} ${unit.name}`))
      : [ui.Text({ color: '#cc3333' }, 'Type a number')]),
  ]);
}
