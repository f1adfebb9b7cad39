// A hostile app: looks for host objects and ungranted functions by every route it can think of.
import { ui, net, storage, clipboard, bus, timer, caps } from '@llm-os/sdk';

const STANDARD = ['__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__'];

function suspicious(names: string[]): string[] {
  return names.filter((n) => !STANDARD.includes(n) && /host|llmos|__|fetch|require|process|std|os$/i.test(n));
}

export default function App() {
  const g: any = globalThis;
  const results: Record<string, unknown> = {};
  results.fetch = typeof (net as any).fetch;
  results.clipboardRead = typeof (clipboard as any).read;
  results.publish = typeof (bus as any).publish;
  results.useLocal = typeof (storage as any).useLocal;
  results.useInterval = typeof (timer as any).useInterval;
  results.globals = suspicious(Object.getOwnPropertyNames(g));
  // Function constructor reached through an SDK function: the realm has none (kernel/sandbox/realm.py);
  // were it there, it would give globalThis, which holds nothing.
  let viaCtor: string[] = [];
  try {
    viaCtor = (ui.Window as any).constructor('return Object.getOwnPropertyNames(this)')();
    results.ctorError = '';
  } catch (e) {
    results.ctorError = String(e);
  }
  results.viaConstructor = suspicious(viaCtor);
  // Walk prototypes of everything the SDK handed us.
  const seen: string[] = [];
  for (const ns of [ui, net, storage, clipboard, bus, timer, caps] as any[]) {
    let o = ns;
    while (o) {
      for (const k of Object.getOwnPropertyNames(o)) seen.push(k);
      o = Object.getPrototypeOf(o);
    }
  }
  results.protoNames = suspicious(seen);
  try {
    (net as any).fetch('http://example.com/');
    results.call = 'called';
  } catch (e) {
    results.call = String(e);
  }
  try {
    (ui as any).notify = () => 1;
    results.patched = 'patched';
  } catch (e) {
    results.patched = String((e as Error).name);
  }
  results.caps = caps.list();
  results.hasNet = caps.has('network:example.com');
  return ui.Window({ title: 'probe' }, [ui.Text({}, JSON.stringify(results))]);
}
