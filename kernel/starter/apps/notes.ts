import { ui, storage } from '@llm-os/sdk';

export default function App() {
  const [notes, setNotes] = storage.useLocal<string[]>('notes', []);
  const [draft, setDraft] = ui.useState('');
  const [selected, setSelected] = ui.useState(-1);

  const save = () => {
    if (draft.trim() === '') return;
    if (selected >= 0) {
      setNotes(notes.map((note, at) => (at === selected ? draft : note)));
    } else {
      setNotes([draft, ...notes]);
    }
    setDraft('');
    setSelected(-1);
  };
  const open = (index: number) => {
    setSelected(index);
    setDraft(notes[index]);
  };
  const remove = () => {
    if (selected < 0) return;
    setNotes(notes.filter((_, at) => at !== selected));
    setDraft('');
    setSelected(-1);
  };

  return ui.Window({ title: 'Notes', gap: 8, padding: 12 }, [
    ui.TextInput({ value: draft, placeholder: 'Write a note', onChange: setDraft, onSubmit: save }),
    ui.Row({ gap: 8 }, [
      ui.Button({ onClick: save }, selected >= 0 ? 'Update' : 'Save'),
      ui.Button({ onClick: remove, disabled: selected < 0 }, 'Delete'),
    ]),
    ui.List({ items: notes.map((note) => note.split('\n')[0]), onSelect: open, height: 260 }),
  ]);
}
