import { ui, storage, apps, format } from '@llm-os/sdk';

// Miles come from the Unit Converter starter app (kernel/starter/apps/converter.ts), named by its identity:
// the call goes through the kernel, under the grant app:<identity>/convert (docs/composition.md).
export default function App() {
  const [legs, setLegs] = storage.useLocal<number[]>('legs', []);
  const [entry, setEntry] = ui.useState('');
  const [miles, setMiles] = ui.useState('…');
  const [asked, setAsked] = ui.useState(-1);
  const total = legs.reduce((sum, km) => sum + km, 0);
  if (asked !== total) {
    setAsked(total);
    apps.call('app-35b179352591748fb6d484e29a219cc5/convert', { value: total, from: 'kilometres', to: 'miles' })
      .then((value) => setMiles(format.number(Number(value), { maxDecimals: 1 })),
            (error) => setMiles(`unknown (${error.code})`));
  }
  const add = () => {
    const km = Number(entry);
    if (entry.trim() !== '' && Number.isFinite(km) && km > 0) {
      setLegs([...legs, km]);
      setEntry('');
    }
  };

  return ui.Window({ title: 'Trip Log', padding: 12, gap: 8 }, [
    ui.Row({ gap: 8 }, [
      ui.TextInput({ value: entry, placeholder: 'Kilometres', onChange: setEntry, onSubmit: add }),
      ui.Button({ onClick: add }, 'Add'),
    ]),
    ui.List({ items: legs.map((km, i) => `Leg ${i + 1}: ${format.number(km)} km`), height: 120 }),
    ui.Text({ bold: true }, `Total: ${format.number(total)} km`),
    ui.Text({}, `In miles: ${miles}`),
    ui.Button({ onClick: () => setLegs([]) }, 'Clear'),
  ]);
}
