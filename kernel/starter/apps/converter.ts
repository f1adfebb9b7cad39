import { ui, apps } from '@llm-os/sdk';

type Unit = { name: string; factor: number };
const LENGTHS: Unit[] = [
  { name: 'metres', factor: 1 },
  { name: 'kilometres', factor: 1000 },
  { name: 'feet', factor: 0.3048 },
  { name: 'miles', factor: 1609.344 },
  { name: 'inches', factor: 0.0254 },
];

// Other apps may convert through this one (each needs the grant app:<this app>/convert; docs/composition.md).
apps.provide('convert', (argument: any) => {
  const unit = (name: unknown) => LENGTHS.find((u) => u.name === name);
  const from = unit(argument?.from);
  const to = unit(argument?.to);
  if (from === undefined || to === undefined) {
    throw new Error(`from and to are units: ${LENGTHS.map((u) => u.name).join(', ')}`);
  }
  const value = Number(argument.value);
  if (!Number.isFinite(value)) throw new Error('value must be a number');
  return value * from.factor / to.factor;
}, 'convert({value: number, from: unit, to: unit}) -> number; units: metres, kilometres, feet, miles, inches');

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
