// The @llm-os/sdk runtime that runs inside QuickJS (one per app).
//
// The host evaluates this file as one function expression and calls it with:
//   host    - the host functions registered for this app's granted capabilities only, captured
//             (and deleted from globalThis) before any app code runs;
//   granted - the granted scopes, e.g. ["storage:local", "timer", "notify", "ui:window"];
//   limits  - {maxNodes, maxDepth} and the composition limits {callBytes, callDepth, callTimeoutMs,
//             maxCallTimeoutMs, maxProvided} (kernel/compose/abi.py, the one place they are set).
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

  // One host call. A host function answers with its value itself (any JSON value, null too) and
  // fails by throwing quickjs-rs's sanitized HostError; only then is the host asked for the reason
  // (last_error, kernel/sandbox/hostfn.py), so the app sees the kernel's reason as a CapabilityError.
  // An error the host did not record (the bridge's own, the guest out of memory) goes on as it is.
  const lastError = host.last_error;
  function call(name, ...args) {
    const fn = host[name];
    if (typeof fn !== "function") throw new CapabilityError(`${name}: not granted`);
    try {
      return fn(...args);
    } catch (error) {
      const reason = lastError();
      if (typeof reason !== "string") throw error;
      throw new CapabilityError(reason === "" ? `${name} failed` : reason);
    }
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

  // ---- clock, randomness, number formatting: in every app, no capability ---------------------------
  // The host owns the wall clock (a test clock moves it too) and the time-zone database, and it draws
  // random numbers from the OS: QuickJS has no zone data, no Intl and only a time-seeded Math.random.
  const DAY_MS = 86400000;
  const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December"];
  const zoneCache = new Map();   // zone -> {bucket, minutes}; offsets change on quarter hours at most
  function zoneOffset(zone, ms) {
    const key = zone === undefined || zone === null ? "" : String(zone);
    const bucket = Math.floor(ms / 900000);
    const hit = zoneCache.get(key);
    if (hit !== undefined && hit.bucket === bucket) return hit.minutes;
    const minutes = call("zone_offset", key, ms);
    zoneCache.set(key, { bucket, minutes });
    return minutes;
  }
  function dateParts(ms, zone) {
    const offset = zoneOffset(zone, ms);
    if (offset === null) throw new RangeError(`unknown time zone: ${zone}`);
    const d = new Date(Number(ms) + offset * 60000);
    return freeze({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
                    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
                    weekday: d.getUTCDay(), offset });
  }
  const two = (n) => (n < 10 ? "0" : "") + n;
  const TOKENS = /YYYY|MMMM|MMM|MM|M|DD|D|dddd|ddd|HH|H|hh|h|mm|ss|A/g;
  function formatDate(ms, pattern, zone) {
    if (!Number.isFinite(Number(ms))) return "–";
    const p = dateParts(ms, zone);
    const hour12 = p.hour % 12 === 0 ? 12 : p.hour % 12;
    const values = {
      YYYY: String(p.year), MMMM: MONTHS[p.month - 1], MMM: MONTHS[p.month - 1].slice(0, 3),
      MM: two(p.month), M: String(p.month), DD: two(p.day), D: String(p.day), dddd: WEEKDAYS[p.weekday],
      ddd: WEEKDAYS[p.weekday].slice(0, 3), HH: two(p.hour), H: String(p.hour), hh: two(hour12),
      h: String(hour12), mm: two(p.minute), ss: two(p.second), A: p.hour < 12 ? "AM" : "PM",
    };
    return String(pattern).replace(TOKENS, (token) => values[token]);
  }
  function dayNumber(text) {   // 'YYYY-MM-DD' -> days since 1970-01-01, or NaN
    const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$/.exec(String(text));
    if (m === null) return NaN;
    const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    const back = new Date(utc);
    if (back.getUTCMonth() !== Number(m[2]) - 1 || back.getUTCDate() !== Number(m[3])) return NaN;
    return utc / DAY_MS;
  }
  const wallNow = () => Number(call("clock_now"));
  const clock = freeze({
    now: wallNow,
    offset: (zone) => zoneOffset(zone, wallNow()),
    parts: (ms, zone) => dateParts(ms === undefined ? wallNow() : ms, zone),
    format: (ms, pattern, zone) => formatDate(ms, pattern, zone),
    today: (zone) => formatDate(wallNow(), "YYYY-MM-DD", zone),
    parseDate(text, zone) {
      const day = dayNumber(text);
      if (!Number.isFinite(day)) return NaN;
      const utc = day * DAY_MS;
      return utc - zoneOffset(zone, utc) * 60000;
    },
    days: (from, to) => dayNumber(to) - dayNumber(from),
  });

  let pool = [];
  function u32() {
    if (pool.length === 0) pool = call("random_u32", 64).slice();
    return pool.pop();
  }
  const ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%&*+-=?@";
  function randomFloat() {   // 53 random bits, as Math.random would have them
    return ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992;
  }
  function randomInt(min, max) {
    const low = Math.ceil(Number(min));
    const high = Math.floor(Number(max));
    if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) return NaN;
    return low + Math.floor(randomFloat() * (high - low + 1));
  }
  const random = freeze({
    float: randomFloat,
    int: randomInt,
    pick: (items) => (isArray(items) && items.length > 0 ? items[randomInt(0, items.length - 1)] : undefined),
    shuffle(items) {
      const out = Array.from(items || []);
      for (let i = out.length - 1; i > 0; i--) {
        const j = randomInt(0, i);
        const keep = out[i]; out[i] = out[j]; out[j] = keep;
      }
      return out;
    },
    string(length, alphabet) {
      const chars = Array.from(alphabet === undefined ? ALPHABET : String(alphabet));
      const n = Math.max(0, Math.min(1024, Math.floor(Number(length)) || 0));
      let out = "";
      for (let i = 0; i < n && chars.length > 0; i++) out += chars[randomInt(0, chars.length - 1)];
      return out;
    },
  });

  const clampInt = (value, low, high) => Math.max(low, Math.min(high, Math.floor(Number(value)) || 0));
  const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const format = freeze({
    // decimals: exactly that many; else at most maxDecimals (default 2), trailing zeros dropped.
    number(x, options) {
      const o = options || {};
      const value = Number(x);
      if (!Number.isFinite(value)) return "–";
      let text = o.decimals !== undefined ? value.toFixed(clampInt(o.decimals, 0, 20))
        : String(Number(value.toFixed(o.maxDecimals === undefined ? 2 : clampInt(o.maxDecimals, 0, 20))));
      if (Number(text) === 0) text = text.replace(/^-/, "");
      if (o.grouping && !/e/.test(text)) {
        const [whole, fraction] = text.split(".");
        text = whole.replace(/\d+/, group) + (fraction === undefined ? "" : "." + fraction);
      }
      return text;
    },
    // "mm:ss", or "h:mm:ss" from an hour on; tenths adds ".d". Rounds down, as a stopwatch does.
    duration(ms, options) {
      const total = Math.max(0, Math.floor(Number(ms) || 0));
      const hours = Math.floor(total / 3600000);
      const minutes = Math.floor(total / 60000) % 60;
      const seconds = Math.floor(total / 1000) % 60;
      let text = (hours > 0 ? hours + ":" + two(minutes) : two(minutes)) + ":" + two(seconds);
      if (options && options.tenths) text += "." + Math.floor((total % 1000) / 100);
      return text;
    },
    pad(n, width) {
      const value = Math.trunc(Number(n) || 0);
      const digits = String(Math.abs(value)).padStart(clampInt(width, 0, 32), "0");
      return (value < 0 ? "-" : "") + digits;
    },
  });

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

  // ---- composition: other apps' functions, always through the kernel (docs/composition.md) -------
  // apps.provide offers a function of this app while its module loads (no capability: a caller needs
  // its own grant). apps.call exists only with some app:APP/FUNCTION grant, and calls only granted
  // targets. Arguments and results are JSON values; every refusal is an AppCallError with a code.
  class AppCallError extends Error {
    constructor(code, message) { super(message); this.name = "AppCallError"; this.code = code; }
  }
  const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
  const TARGET = /^[a-z0-9][a-z0-9._-]{0,63}\/[A-Za-z_][A-Za-z0-9_]{0,63}$/;
  const provided = new Map();   // name -> {fn, about}
  let providing = true;         // until the module has loaded
  const getPrototypeOf = Object.getPrototypeOf;
  const objectProto = Object.prototype;
  // Why a value is not JSON (a function, undefined, NaN, a Map, a cycle...), or null when it is.
  function notJson(value, depth) {
    if (value === null || typeof value === "string" || typeof value === "boolean") return null;
    if (typeof value === "number") return Number.isFinite(value) ? null : `holds ${value}, which is not a JSON number`;
    if (typeof value !== "object") return `holds ${typeof value === "undefined" ? "undefined" : "a " + typeof value}, which is not JSON`;
    if (depth >= limits.callDepth) return `is nested deeper than ${limits.callDepth} (or refers to itself)`;
    if (isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const problem = notJson(value[i], depth + 1);
        if (problem !== null) return problem;
      }
      return null;
    }
    const proto = getPrototypeOf(value);
    if (proto !== objectProto && proto !== null) return "holds an object that is not a plain object or array";
    for (const key of Object.keys(value)) {
      const problem = notJson(value[key], depth + 1);
      if (problem !== null) return problem;
    }
    return null;
  }
  const errorText = (error) => (error !== null && typeof error === "object" && "message" in error
    ? String(error.name || "Error") + ": " + String(error.message) : String(error));

  const apps = {
    provide(name, fn, about) {
      name = String(name);
      if (!providing) throw new Error("apps.provide: offer functions at the top level of the app, while it loads");
      if (!FUNCTION_NAME.test(name)) throw new TypeError(`apps.provide: '${name}' is not a function name ([A-Za-z_][A-Za-z0-9_]*, at most 64)`);
      if (typeof fn !== "function") throw new TypeError(`apps.provide ${name}: the second argument must be a function`);
      if (provided.has(name)) throw new Error(`apps.provide: '${name}' is provided twice`);
      if (provided.size >= limits.maxProvided) throw new RangeError(`apps.provide: at most ${limits.maxProvided} functions`);
      provided.set(name, { fn, about: about === undefined ? "" : String(about).slice(0, 500) });
    },
  };
  if (anyWith("app:")) {
    apps.call = (target, argument, options) => new Promise((resolve, reject) => {
      target = String(target);
      const refuse = (code, why) => reject(new AppCallError(code, `apps.call ${target}: ${why}`));
      if (!TARGET.test(target)) { refuse("bad-argument", "the target is 'APP/FUNCTION'"); return; }
      if (!has("app:" + target)) { refuse("denied", `needs 'app:${target}', which was not granted`); return; }
      const value = argument === undefined ? null : argument;
      const problem = notJson(value, 0);
      if (problem !== null) { refuse("bad-argument", "the argument " + problem); return; }
      const text = stringify(value);
      if (text.length > limits.callBytes) { refuse("too-large", `the argument is over ${limits.callBytes} bytes`); return; }
      const asked = options && options.timeoutMs !== undefined ? Number(options.timeoutMs) : limits.callTimeoutMs;
      const ms = Math.max(1, Math.min(limits.maxCallTimeoutMs, Math.floor(asked) || limits.callTimeoutMs));
      const id = nextPending++;
      pending.set(id, { resolve, reject, call: true });
      try {
        call("app_call", id, target, text, ms);
      } catch (error) {
        pending.delete(id);
        refuse("failed", errorText(error));
      }
    });
  }

  const caps = freeze({
    list: () => granted.slice(),
    has: (scope) => has(String(scope)),
  });

  const sdk = freeze({
    ui: freeze(ui), storage: freeze(storage), net: freeze(net), timer: freeze(timer),
    clipboard: freeze(clipboard), bus: freeze(bus), apps: freeze(apps), caps, clock, random, format, useState,
    CapabilityError, AppCallError,
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
      let app;
      try {
        app = factory(sdk);
      } finally {
        providing = false;
      }
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
      if (waiter === undefined || waiter.call === true) return;
      pending.delete(id);
      if (!ok) { waiter.reject(new CapabilityError(String(value))); return; }
      const body = value.body;
      waiter.resolve(freeze({
        ok: value.status >= 200 && value.status < 300, status: value.status, headers: value.headers,
        text: () => Promise.resolve(body), json: () => Promise.resolve(parse(body)),
      }));
    },
    // The functions this app provides, once it has loaded: [{name, about}].
    provided() {
      return stringify(Array.from(provided, ([name, entry]) => ({ name, about: entry.about })));
    },
    // Another app calls `name` (through the kernel). The answer goes back through call_reply, now or
    // when the returned promise settles; a thrown error is the caller's, not this app's.
    invoke(id, name, text, from, t) {
      now = t;
      const reply = (ok, code, body) => {
        try { call("call_reply", id, ok, code, body); } catch (error) { /* the host logs it */ }
      };
      const entry = provided.get(name);
      if (entry === undefined) { reply(false, "no-such-function", `this app provides no function '${name}'`); return; }
      const answer = (value) => {
        const result = value === undefined ? null : value;
        const problem = notJson(result, 0);
        if (problem === null) reply(true, "", stringify(result));
        else reply(false, "failed", `${name} returned a value that ${problem}`);
      };
      let result;
      try {
        result = entry.fn(parse(text), freeze({ from }));
      } catch (error) {
        reply(false, "failed", errorText(error));
        return;
      }
      if (result !== null && typeof result === "object" && typeof result.then === "function") {
        result.then(answer, (error) => reply(false, "failed", errorText(error)));
      } else {
        answer(result);
      }
    },
    // The kernel's answer to this app's apps.call `id`: a JSON text, or an error code and message.
    answer(id, ok, code, text, t) {
      now = t;
      const waiter = pending.get(id);
      if (waiter === undefined || waiter.call !== true) return;
      pending.delete(id);
      if (!ok) { waiter.reject(new AppCallError(String(code), String(text))); return; }
      let value;
      try { value = parse(text); } catch (error) {
        waiter.reject(new AppCallError("failed", "the answer is not JSON"));
        return;
      }
      waiter.resolve(value);
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
