import { ui, timer } from '@llm-os/sdk';

function shown(tenths: number): string {
  const minutes = Math.floor(tenths / 600);
  const seconds = Math.floor(tenths / 10) % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}.${tenths % 10}`;
}

export default function App() {
  const [tenths, setTenths] = ui.useState(0);
  const [laps, setLaps] = ui.useState<string[]>([]);
  const clock = timer.useInterval(() => setTenths((t: number) => t + 1), 100);

  const reset = () => {
    setTenths(0);
    setLaps([]);
  };

  return ui.Window({ title: 'Stopwatch', padding: 12, gap: 8 }, [
    ui.Text({ size: 'xl', bold: true }, shown(tenths)),
    ui.Row({ gap: 8 }, [
      ui.Button({ onClick: clock.toggle }, clock.running ? 'Stop' : 'Start'),
      ui.Button({ onClick: () => setLaps([shown(tenths), ...laps]), disabled: !clock.running }, 'Lap'),
      ui.Button({ onClick: reset, disabled: clock.running }, 'Reset'),
    ]),
    ui.List({ items: laps, height: 160 }),
  ]);
}
