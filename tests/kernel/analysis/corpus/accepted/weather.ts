// manifest: ui:window, network:api.weather.example
import { ui, net } from '@llm-os/sdk';

interface Forecast { city: string; celsius: number }

class Cache {
  constructor(private readonly limit: number) {}
  private items = new Map<string, Forecast>();
  put(key: string, value: Forecast) { if (this.items.size < this.limit) this.items.set(key, value); }
}

const cache = new Cache(8);
const colours: Record<string, string> = { hot: '#ff6600', cold: '#3366ff' };

export default function App() {
  const [city, setCity] = ui.useState('Paris');
  const [result, setResult] = ui.useState<Forecast | null>(null);
  const load = async () => {
    const reply = await net.fetch(`https://api.weather.example/v1/${encodeURIComponent(city)}`);
    const data = (await reply.json()) as Forecast;
    cache.put(city, data);
    setResult(data);
  };
  const tone = result && result.celsius > 20 ? colours['hot'] : colours.cold;
  const items = [1, 2, 3];
  return ui.Window({ title: 'Weather' }, [
    ui.TextInput({ value: city, onChange: setCity, onSubmit: load }),
    ui.Text({ color: tone }, result ? `${result.celsius} °C in ${result.city}` : 'No data'),
    ui.Text({}, String(items[0] + items.length)),
    ui.Canvas({ width: 40, height: 40, commands: [['circle', 20, 20, 10, tone, true]] }),
  ]);
}
