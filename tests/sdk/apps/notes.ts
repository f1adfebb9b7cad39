// Stores and reads notes; a button writes through the kernel so a revocation shows on the next call.
import { ui, storage } from '@llm-os/sdk';

export default function App() {
  const [message, setMessage] = ui.useState<string>('idle');
  const secret = storage.get('secret', null) as string | null;
  const write = () => {
    try {
      storage.set('secret', 'notes-' + Date.now());
      setMessage('written');
    } catch (e) {
      setMessage(String(e));
    }
  };
  return ui.Window({ title: 'notes' }, [
    ui.Text({}, message),
    ui.Text({}, secret === null ? 'none' : 'has-secret'),
    ui.Button({ onClick: write }, 'Write'),
  ]);
}
