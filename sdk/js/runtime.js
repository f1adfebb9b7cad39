// The @llm-os/sdk runtime that runs inside QuickJS (one per app).
//
// The host evaluates this file as one function expression and calls it with:
//   host    - the host functions registered for this app's granted capabilities only, captured
//             (and deleted from globalThis) before any app code runs;
//   granted - the granted scopes, e.g. ["storage:local", "timer", "notify", "ui:window"];
//   limits  - {maxNodes, maxDepth}.
// It returns the host-facing entry points; only `sdk` is ever handed to the app.
// The host owns the clock: every entry point receives `t` (host milliseconds), and the app never
// sees a real timer API. Handler ids grow across renders, so ids from an older tree find nothing.
(function (host, granted, limits) {
  "use strict";
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const freeze = Object.freeze;
  const isArray = Array.isArray;
  const objectIs = Object.is;
  const hasOwn = Object.prototype.hasOwnProperty;
  const WIDGETS = ["Window", "Text", "Button", "Slider", "TextInput", "Checkbox", "List", "Canvas", "Row", "Column"];

  class CapabilityError extends Error {
    constructor(message) { super(message); this.name = "CapabilityError"; }
  }

  const grantedSet = new Set(granted);
  const has = (scope) => grantedSet.has(scope) ||
    (scope.startsWith("network:") && grantedSet.has("network:*"));
  const anyWith = (prefix) => granted.some((s) => s.startsWith(prefix));

  // One host call: the host answers {ok: true, value} or {ok: false, error} and never throws,
  // so the app sees the kernel's reason instead of a sanitized host error.
  function call(name, ...args) {
    const fn = host[name];
    if (typeof fn !== "function") throw new CapabilityError(`${name}: not granted`);
    const answer = fn(...args);
    if (answer === null || typeof answer !== "object" || answer.ok !== true) {
      throw new CapabilityError(answer && answer.error ? String(answer.error) : `${name} failed`);
    }
    return answer.value;
  }

  let now = 0;
  let App = null;
  const hooks = [];
  let hookIndex = 0;
  let rendering = false;
  let dirty = true;
  let handlers = new Map();
  let nextHandler = 1;
  const pending = new Map();
  let nextPending = 1;
  const subscribers = new Map();   // channel -> Set of functions

  function hook(kind, init) {
    if (!rendering) throw new Error(`${kind} can only be called while App() renders`);
    const index = hookIndex++;
    if (index >= hooks.length) {
      const cell = init();
      cell.kind = kind;
      hooks.push(cell);
    } else if (hooks[index].kind !== kind) {
      throw new Error(`hook order changed: call ${index} was ${hooks[index].kind}, now ${kind}; ` +
                      "call hooks unconditionally, in the same order on every render");
    }
    return hooks[index];
  }

  function useState(initial) {
    const cell = hook("useState", () => ({ value: typeof initial === "function" ? initial() : initial }));
    if (!cell.set) {
      cell.set = (next) => {
        const value = typeof next === "function" ? next(cell.value) : next;
        if (!objectIs(value, cell.value)) { cell.value = value; dirty = true; }
      };
    }
    return [cell.value, cell.set];
  }

  // ---- UI tree ---------------------------------------------------------------------------------
  const NODE = Symbol("ui-node");
  function widget(type) {
    return function (props, children) {
      if (props === undefined || props === null) props = {};
      else if (typeof props !== "object" || isArray(props) || props[NODE]) {
        children = props;     // ui.Text("hi"), ui.Column([a, b])
        props = {};
      }
      return { [NODE]: true, type, props, children: children === undefined ? [] : children };
    };
  }

  let nodeCount = 0;
  function normalizeValue(value, where, depth) {
    if (typeof value === "function") {
      const id = nextHandler++;
      handlers.set(id, value);
      return { $handler: id };
    }
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") return Number.isFinite(value) ? value : null;
    if (depth > limits.maxDepth) throw new RangeError(`ui tree: ${where} is nested too deeply`);
    if (isArray(value)) return value.map((v, i) => normalizeValue(v, `${where}[${i}]`, depth + 1));
    if (typeof value === "object") {
      const out = {};
      for (const key of Object.keys(value)) {
        if (value[key] !== undefined) out[key] = normalizeValue(value[key], `${where}.${key}`, depth + 1);
      }
      return out;
    }
    return null;
  }

  function normalizeChildren(children, where, depth, out) {
    if (children === null || children === undefined || children === false || children === true) return out;
    if (isArray(children)) {
      for (let i = 0; i < children.length; i++) normalizeChildren(children[i], `${where}[${i}]`, depth, out);
      return out;
    }
    if (typeof children === "string") { out.push(children); return out; }
    if (typeof children === "number") { out.push(Number.isFinite(children) ? children : String(children)); return out; }
    out.push(normalizeNode(children, where, depth));
    return out;
  }

  function normalizeNode(node, where, depth) {
    if (node === null || typeof node !== "object" || node[NODE] !== true) {
      throw new TypeError(`ui tree: ${where} is not a ui.* node (got ${typeof node})`);
    }
    if (++nodeCount > limits.maxNodes) {
      throw new RangeError(`ui tree: more than ${limits.maxNodes} nodes`);
    }
    if (depth > limits.maxDepth) throw new RangeError(`ui tree: deeper than ${limits.maxDepth}`);
    const props = {};
    for (const key of Object.keys(node.props)) {
      if (node.props[key] !== undefined) props[key] = normalizeValue(node.props[key], `${where}.${key}`, depth);
    }
    return { type: node.type, props, children: normalizeChildren(node.children, `${where}/${node.type}`, depth + 1, []) };
  }

  function render() {
    rendering = true;
    hookIndex = 0;
    handlers = new Map();
    let root;
    try {
      root = App();
    } finally {
      rendering = false;
    }
    dirty = false;
    nodeCount = 0;
    return normalizeNode(root, "App()", 0);
  }

  // ---- timers: driven by the host clock ----------------------------------------------------------
  const pad = (n) => (n < 10 ? "0" : "") + n;
  function mmss(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    return pad(Math.floor(total / 60)) + ":" + pad(total % 60);
  }
  function remainingOf(cell) {
    const elapsed = cell.elapsed + (cell.startedAt === null ? 0 : now - cell.startedAt);
    return Math.max(0, cell.ms - elapsed);
  }

  function useInterval(fn, ms) {
    const cell = hook("useInterval", () => {
      const c = { ms: 0, elapsed: 0, startedAt: null, fn: null, shown: "" };
      c.start = () => { if (c.startedAt === null) { c.startedAt = now; dirty = true; } };
      c.stop = () => {
        if (c.startedAt !== null) { c.elapsed += now - c.startedAt; c.startedAt = null; dirty = true; }
      };
      c.toggle = () => (c.startedAt === null ? c.start() : c.stop());
      c.reset = () => { c.elapsed = 0; if (c.startedAt !== null) c.startedAt = now; dirty = true; };
      return c;
    });
    cell.fn = fn;
    cell.ms = Math.max(1, Number(ms) || 0);
    const remaining = remainingOf(cell);
    cell.shown = mmss(remaining);
    return { remaining: cell.shown, remainingMs: remaining, running: cell.startedAt !== null,
             toggle: cell.toggle, start: cell.start, stop: cell.stop, reset: cell.reset };
  }

  function useTimeout(fn, ms) {
    const cell = hook("useTimeout", () => {
      const c = { due: now + Math.max(0, Number(ms) || 0), fn: null };
      c.cancel = () => { if (c.due !== null) { c.due = null; dirty = true; } };
      c.reset = () => { c.due = now + c.ms; dirty = true; };
      return c;
    });
    cell.fn = fn;
    cell.ms = Math.max(0, Number(ms) || 0);
    return { pending: cell.due !== null, cancel: cell.cancel, reset: cell.reset };
  }

  function runTimers() {
    for (const cell of hooks) {
      if (cell.kind === "useInterval" && cell.startedAt !== null) {
        if (remainingOf(cell) <= 0) {
          cell.elapsed = 0;
          cell.startedAt = now;
          dirty = true;
          cell.fn();
        } else if (mmss(remainingOf(cell)) !== cell.shown) {
          dirty = true;
        }
      } else if (cell.kind === "useTimeout" && cell.due !== null && now >= cell.due) {
        cell.due = null;
        dirty = true;
        cell.fn();
      }
    }
  }

  function nextWake() {
    let next = null;
    const consider = (ms) => { if (next === null || ms < next) next = ms; };
    for (const cell of hooks) {
      if (cell.kind === "useInterval" && cell.startedAt !== null) {
        const remaining = remainingOf(cell);
        consider(remaining <= 0 ? 0 : ((remaining - 1) % 1000) + 1);
      } else if (cell.kind === "useTimeout" && cell.due !== null) {
        consider(Math.max(0, cell.due - now));
      }
    }
    return next;
  }

  // ---- the SDK object: only granted functions exist ----------------------------------------------
  const ui = { useState };
  for (const name of WIDGETS) ui[name] = widget(name);
  if (has("notify")) {
    ui.notify = (text, opts) => { call("notify", String(text), stringify(opts || {})); };
  }

  const storage = {};
  if (has("storage:local")) {
    const decode = (text, fallback) => (text === null || text === undefined ? fallback : parse(text));
    storage.get = (key, fallback) => decode(call("storage_get", String(key)), fallback === undefined ? null : fallback);
    storage.set = (key, value) => { call("storage_set", String(key), stringify(value === undefined ? null : value)); };
    storage.remove = (key) => { call("storage_delete", String(key)); };
    storage.keys = () => call("storage_keys");
    storage.useLocal = (key, initial) => {
      const cell = hook("useLocal", () => {
        const c = { key: String(key), value: decode(call("storage_get", String(key)), initial) };
        c.set = (next) => {
          const value = typeof next === "function" ? next(c.value) : next;
          if (objectIs(value, c.value)) return;
          c.value = value;
          dirty = true;
          call("storage_set", c.key, stringify(value === undefined ? null : value));
        };
        return c;
      });
      return [cell.value, cell.set];
    };
  }

  const net = {};
  if (anyWith("network:")) {
    net.fetch = (url, options) => new Promise((resolve, reject) => {
      const id = nextPending++;
      pending.set(id, { resolve, reject });
      try {
        call("fetch_start", id, String(url), stringify(options || {}));
      } catch (error) {
        pending.delete(id);
        reject(error);
      }
    });
  }

  const timer = {};
  if (has("timer")) {
    timer.useInterval = useInterval;
    timer.useTimeout = useTimeout;
  }

  const clipboard = {};
  if (has("clipboard:read")) clipboard.read = () => Promise.resolve(call("clipboard_read"));
  if (has("clipboard:write")) clipboard.write = (text) => Promise.resolve(call("clipboard_write", String(text)));

  const bus = {};
  if (anyWith("bus:")) {
    bus.publish = (channel, message) => { call("bus_publish", String(channel), stringify(message === undefined ? null : message)); };
    bus.subscribe = (channel, fn) => {
      channel = String(channel);
      if (!subscribers.has(channel)) {
        call("bus_subscribe", channel);
        subscribers.set(channel, new Set());
      }
      subscribers.get(channel).add(fn);
      return () => { subscribers.get(channel).delete(fn); };
    };
    bus.useSubscription = (channel, fn) => {
      const cell = hook("useSubscription", () => {
        const c = { fn: null };
        bus.subscribe(channel, (message, from) => c.fn(message, from));
        return c;
      });
      cell.fn = fn;
    };
  }

  const caps = freeze({
    list: () => granted.slice(),
    has: (scope) => has(String(scope)),
  });

  const sdk = freeze({
    ui: freeze(ui), storage: freeze(storage), net: freeze(net), timer: freeze(timer),
    clipboard: freeze(clipboard), bus: freeze(bus), caps, useState, CapabilityError,
  });

  if (typeof host.log === "function") {
    const log = host.log;
    const line = (level) => (...parts) => { log(level, parts.map((p) => (typeof p === "string" ? p : stringify(p))).join(" ")); };
    globalThis.console = freeze({ log: line("info"), info: line("info"), warn: line("warn"), error: line("error") });
  }

  // ---- host-facing entry points: each returns nothing; the host then calls flush() ----------------
  return freeze({
    sdk,
    mount(factory, t) {
      now = t;
      const app = factory(sdk);
      if (typeof app !== "function") throw new TypeError("the default export must be a function App()");
      App = app;
      dirty = true;
    },
    event(id, args, t) {
      now = t;
      const fn = handlers.get(id);
      if (fn === undefined) return false;
      fn(...(isArray(args) ? args : []));
      return true;
    },
    tick(t) { now = t; runTimers(); },
    settle(id, ok, value, t) {
      now = t;
      const waiter = pending.get(id);
      if (waiter === undefined) return;
      pending.delete(id);
      if (!ok) { waiter.reject(new CapabilityError(String(value))); return; }
      const body = value.body;
      waiter.resolve(freeze({
        ok: value.status >= 200 && value.status < 300, status: value.status, headers: value.headers,
        text: () => Promise.resolve(body), json: () => Promise.resolve(parse(body)),
      }));
    },
    deliver(channel, message, from, t) {
      now = t;
      const fns = subscribers.get(channel);
      if (fns === undefined) return;
      const value = parse(message);
      for (const fn of Array.from(fns)) fn(value, from);
    },
    // Re-render if anything changed; answer {tree|null, next: ms until the next timer wake | null}.
    flush(t, force) {
      now = t;
      const tree = force || dirty ? render() : null;
      return stringify({ tree, next: nextWake() });
    },
  });
})
