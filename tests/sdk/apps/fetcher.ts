// Fetches from two hosts on click; only one is granted.
import { ui, net } from '@llm-os/sdk';

export default function App() {
  const [shown, setShown] = ui.useState<string>('idle');
  const get = async (target: string) => {
    try {
      const response = await net.fetch!(target);
      const body = await response.text();
      setShown(`${response.status} ${body}`);
    } catch (e) {
      setShown(String(e));
    }
  };
  return ui.Window({ title: 'fetch' }, [
    ui.Text({}, shown),
    ui.TextInput({ value: '', onSubmit: (target: string) => get(target) }),
  ]);
}
