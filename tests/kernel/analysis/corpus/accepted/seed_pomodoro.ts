// manifest: ui:window, storage:local, timer, notify
// Every generated app imports from the kernel SDK
import { ui, storage, timer, caps } from '@llm-os/sdk';

// Kernel injects ONLY the capabilities the app was granted
export default function App() {
  const [minutes, setMinutes] = storage.useLocal('minutes', 25);
  const alarm = timer.useInterval(() => {
    ui.notify('Break time!', { sound: true });
  }, minutes * 60 * 1000);

  return ui.Window({ title: 'Pomodoro Timer' }, [
    ui.Text({ size: 'xl' }, alarm.remaining),
    ui.Button({ onClick: alarm.toggle }, alarm.running ? 'Pause' : 'Start'),
    ui.Slider({ value: minutes, onChange: setMinutes, min: 1, max: 60 })
  ]);
}
