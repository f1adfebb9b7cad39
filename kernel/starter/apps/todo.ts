import { ui, storage } from '@llm-os/sdk';

type Todo = { text: string; done: boolean };

export default function App() {
  const [todos, setTodos] = storage.useLocal<Todo[]>('todos', []);
  const [draft, setDraft] = ui.useState('');

  const add = () => {
    const text = draft.trim();
    if (text === '') return;
    setTodos([...todos, { text, done: false }]);
    setDraft('');
  };
  const toggle = (index: number) =>
    setTodos(todos.map((todo, at) => (at === index ? { text: todo.text, done: !todo.done } : todo)));
  const remove = (index: number) => setTodos(todos.filter((_, at) => at !== index));

  return ui.Window({ title: 'Todo List', gap: 8, padding: 12 }, [
    ui.Row({ gap: 8 }, [
      ui.TextInput({ value: draft, placeholder: 'What needs doing?', onChange: setDraft, onSubmit: add }),
      ui.Button({ onClick: add, disabled: draft.trim() === '' }, 'Add'),
    ]),
    ui.List({ height: 240 }, todos.map((todo, index) =>
      ui.Row({ gap: 8 }, [
        ui.Checkbox({ checked: todo.done, label: todo.text, onChange: () => toggle(index) }),
        ui.Button({ onClick: () => remove(index) }, 'Delete'),
      ]))),
    ui.Text({ size: 'sm' }, `${todos.filter((todo) => !todo.done).length} left`),
  ]);
}
