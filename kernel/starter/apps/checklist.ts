import { ui, storage } from '@llm-os/sdk';

type Item = { label: string; checked: boolean };
const DEFAULTS: Item[] = [
  { label: 'Keys', checked: false },
  { label: 'Wallet', checked: false },
  { label: 'Phone', checked: false },
];

export default function App() {
  const [items, setItems] = storage.useLocal<Item[]>('items', DEFAULTS);
  const [draft, setDraft] = ui.useState('');

  const set = (index: number, checked: boolean) =>
    setItems(items.map((item, at) => (at === index ? { label: item.label, checked } : item)));
  const add = () => {
    if (draft.trim() === '') return;
    setItems([...items, { label: draft.trim(), checked: false }]);
    setDraft('');
  };
  const done = items.filter((item) => item.checked).length;

  return ui.Window({ title: 'Checklist', padding: 12, gap: 8 }, [
    ui.Text({ bold: true }, `${done} of ${items.length} done`),
    ui.Column({ gap: 4 }, items.map((item, index) =>
      ui.Checkbox({ checked: item.checked, label: item.label, onChange: (on: boolean) => set(index, on) }))),
    ui.Row({ gap: 8 }, [
      ui.TextInput({ value: draft, placeholder: 'New item', onChange: setDraft, onSubmit: add }),
      ui.Button({ onClick: add }, 'Add'),
      ui.Button({ onClick: () => setItems(items.map((item) => ({ label: item.label, checked: false }))) },
        'Uncheck all'),
    ]),
  ]);
}
