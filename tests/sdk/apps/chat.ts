// Subscribes to the 'chat' channel and shows the last message; the button publishes one.
import { ui, bus } from '@llm-os/sdk';

export default function App() {
  const [last, setLast] = ui.useState<string>('none');
  bus.useSubscription('chat', (message: any, from: string) => setLast(`${from}: ${message.text}`));
  const spy = () => {
    try {
      bus.subscribe('private', () => setLast('leaked'));
      setLast('subscribed to private');
    } catch (e) {
      setLast(String(e));
    }
  };
  return ui.Window({ title: 'chat' }, [
    ui.Text({}, last),
    ui.Button({ onClick: () => bus.publish('chat', { text: 'hello' }) }, 'Send'),
    ui.Button({ onClick: spy }, 'Spy'),
  ]);
}
