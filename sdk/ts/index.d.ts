// Type declarations for `@llm-os/sdk`, the only module an LLM OS app may import.
//
// The runtime behind these types is sdk/js/runtime.js, run inside the app's QuickJS sandbox.
// Functions marked "needs <scope>" exist ONLY when the app was granted that capability: without it
// the property is undefined at run time (the namespace object still exists so imports resolve).
// They are typed as present because an app's manifest grants what its code calls (the static
// analysis checks that); code that can run without a grant tests `caps.has(scope)` first.

export type Scope =
  | "storage:local" | "ui:window" | "clipboard:read" | "clipboard:write" | "notify" | "timer"
  | `network:${string}` | `bus:${string}` | `app:${string}`;

/** Thrown when the kernel denies a call (not granted, expired, revoked, quota, ...). */
export declare class CapabilityError extends Error {
  name: "CapabilityError";
}

// ---- UI tree (docs/ui-tree.md) ----------------------------------------------------------------
export type Child = UINode<object> | string | number | null | undefined | false | true;
export type Children = Child | Child[];

export interface UINode<P extends object = object> {
  readonly type: WidgetType;
  readonly props: P;
  readonly children: Children;
}

export type WidgetType =
  | "Window" | "Text" | "Button" | "Slider" | "TextInput" | "Checkbox" | "List" | "Canvas"
  | "Row" | "Column";

export interface ContainerProps { padding?: number; gap?: number }
export interface WindowProps extends ContainerProps { title: string; width?: number; height?: number }
export interface StackProps extends ContainerProps { align?: "start" | "center" | "end" }
export interface TextProps { size?: "sm" | "md" | "lg" | "xl"; bold?: boolean; color?: string }
export interface ButtonProps { onClick: () => void; disabled?: boolean }
export interface SliderProps { value: number; min: number; max: number; step?: number; onChange: (value: number) => void }
export interface TextInputProps {
  value: string; placeholder?: string; onChange?: (value: string) => void; onSubmit?: (value: string) => void;
}
export interface CheckboxProps { checked: boolean; label?: string; onChange: (checked: boolean) => void }
export interface ListProps extends ContainerProps { items?: string[]; onSelect?: (index: number) => void; height?: number }

export type CanvasCommand =
  | ["fillRect", number, number, number, number, string]
  | ["strokeRect", number, number, number, number, string, number]
  | ["line", number, number, number, number, string, number]
  | ["circle", number, number, number, string, boolean]
  | ["text", number, number, string, string, number]
  | ["clear", string];
/** A pointer on a Canvas, in canvas coordinates (top-left 0, 0; clamped to the canvas): "down" on a
 * press over it, "move" for each motion while pressed, "up" on release. */
export interface PointerEvent { readonly type: "down" | "move" | "up"; readonly x: number; readonly y: number }
export interface CanvasProps {
  width: number; height: number; commands: CanvasCommand[];
  /** Pointer presses and drags on the canvas (painting); no capability beyond ui:window. */
  onPointer?: (event: PointerEvent) => void;
}

/** A widget takes (props, children), or only children when it needs no props: ui.Text("hi"). */
export interface Widget<P extends object> {
  (props: P, children?: Children): UINode<P>;
  (children?: Children): UINode<P>;
}

export type StateSetter<T> = (next: T | ((previous: T) => T)) => void;

export interface NotifyOptions { sound?: boolean; timeout?: number }

/** The app's window and its widgets. The namespace needs ui:window, which the host enforces by
 * drawing the window only when it is granted; notify (below) needs notify of its own. */
export declare const ui: {
  readonly Window: Widget<WindowProps>;
  readonly Row: Widget<StackProps>;
  readonly Column: Widget<StackProps>;
  readonly Text: Widget<TextProps>;
  readonly Button: Widget<ButtonProps>;
  readonly Slider: Widget<SliderProps>;
  readonly TextInput: Widget<TextInputProps>;
  readonly Checkbox: Widget<CheckboxProps>;
  readonly List: Widget<ListProps>;
  readonly Canvas: Widget<CanvasProps>;
  /** React-like state, keyed by call order: call hooks unconditionally, in the same order. */
  useState<T>(initial: T | (() => T)): [T, StateSetter<T>];
  /** needs notify */
  readonly notify: (text: string, options?: NotifyOptions) => void;
};

export declare function useState<T>(initial: T | (() => T)): [T, StateSetter<T>];

// ---- storage (needs storage:local) --------------------------------------------------------------
export declare const storage: {
  /** A value persisted by the kernel in this app's own storage; the setter writes through. Needs storage:local. */
  readonly useLocal: <T>(key: string, initial: T) => [T, StateSetter<T>];
  /** needs storage:local */
  readonly get: <T>(key: string, fallback?: T) => T | null;
  /** needs storage:local */
  readonly set: (key: string, value: unknown) => void;
  /** needs storage:local */
  readonly remove: (key: string) => void;
  /** needs storage:local */
  readonly keys: () => string[];
};

// ---- timers (needs timer); the host owns the clock ------------------------------------------------
export interface IntervalHandle {
  /** Time left in the current period, "mm:ss". */
  readonly remaining: string;
  readonly remainingMs: number;
  readonly running: boolean;
  toggle(): void;
  start(): void;
  stop(): void;
  /** Back to a full period; keeps running if it was. */
  reset(): void;
}
export interface TimeoutHandle { readonly pending: boolean; cancel(): void; reset(): void }

export declare const timer: {
  /** A repeating countdown of `ms`, stopped at first; `fn` runs each time it reaches zero. Needs timer. */
  readonly useInterval: (fn: () => void, ms: number) => IntervalHandle;
  /** Runs `fn` once, `ms` after the first render. Needs timer. */
  readonly useTimeout: (fn: () => void, ms: number) => TimeoutHandle;
};

// ---- network (needs network:HOST; every request is made and audited by the kernel) -------------
export interface FetchOptions { method?: string; headers?: Record<string, string>; body?: string }
export interface FetchResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: Record<string, string>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}
export declare const net: {
  /** needs network:HOST for the URL's host (network:HOST:PORT with an explicit port) */
  readonly fetch: (url: string, options?: FetchOptions) => Promise<FetchResponse>;
};

// ---- clipboard --------------------------------------------------------------------------------------
export declare const clipboard: {
  /** needs clipboard:read */
  readonly read: () => Promise<string>;
  /** needs clipboard:write */
  readonly write: (text: string) => Promise<void>;
};

// ---- kernel message bus (needs bus:CHANNEL for each channel) -------------------------------------
export declare const bus: {
  /** needs bus:CHANNEL */
  readonly publish: (channel: string, message: unknown) => void;
  /** Returns an unsubscribe function. `from` is the sending app's id. Needs bus:CHANNEL. */
  readonly subscribe: (channel: string, fn: (message: any, from: string) => void) => () => void;
  /** Hook form: subscribes once, always calls the latest `fn`. Needs bus:CHANNEL. */
  readonly useSubscription: (channel: string, fn: (message: any, from: string) => void) => void;
};

// ---- other apps' functions, through the kernel (docs/composition.md) --------------------------------
/** What travels between apps: JSON values only (no functions, undefined, NaN, Map, Date, cycles). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface CallOptions {
  /** How long to wait for the answer once the callee runs, in ms: default 5000, at most 30000 (a callee
   * that is not running is started first, which may take up to 30 s more). */
  timeoutMs?: number;
}
/** Who calls a provided function: the calling app's identity, as the kernel vouches for it. */
export interface CallInfo { readonly from: string }
export type AppCallErrorCode =
  | "denied" | "bad-argument" | "too-large" | "too-deep" | "busy" | "no-such-app" | "no-such-function"
  | "timeout" | "failed";
/** How an apps.call failed; `code` says what, the message says why in words. */
export declare class AppCallError extends Error {
  name: "AppCallError";
  readonly code: AppCallErrorCode;
}
export declare const apps: {
  /** Call FUNCTION of the app APP (its identity, "app-…"), target "APP/FUNCTION" as a literal string, with
   * one JSON argument; resolves to the JSON result, rejects with an AppCallError. At most 64 KiB each
   * way. Needs app:APP/FUNCTION for exactly that target. */
  readonly call: <T = Json>(target: string, argument?: Json, options?: CallOptions) => Promise<T>;
  /** Offer `fn` to other apps as `name` (at the top level of the app, while it loads). It gets the
   * caller's argument and who calls; it returns a JSON value or a Promise of one, or throws. No capability:
   * a caller must hold its own grant for it. `about` says what it takes and gives, for generators. */
  readonly provide: (name: string, fn: (argument: Json, call: CallInfo) => Json | Promise<Json>,
                     about?: string) => void;
};

// ---- clock, randomness, formatting: every app has them, no capability --------------------------------
// The host supplies the wall clock and time-zone offsets (QuickJS has no zone data and no Intl) and
// random numbers from the OS. Dates are "YYYY-MM-DD" texts; times are ms since 1970 (UTC).
export interface DateParts {
  readonly year: number; readonly month: number; readonly day: number; readonly hour: number;
  readonly minute: number; readonly second: number;
  /** 0 = Sunday */
  readonly weekday: number;
  /** minutes east of UTC */
  readonly offset: number;
}
/** A zone is an IANA name ("Europe/Paris") or a common city or country ("Tokyo", "India"); omitted means
 * this device's zone. An unknown zone throws a RangeError. */
export declare const clock: {
  /** The wall-clock time in ms since 1970 (a test clock moves it too). */
  now(): number;
  /** Minutes east of UTC in `zone` now, or null for an unknown zone. */
  offset(zone?: string): number | null;
  parts(ms?: number, zone?: string): DateParts;
  /** Tokens: YYYY MMMM MMM MM M DD D dddd ddd HH H hh h mm ss A; other characters stay as they are. */
  format(ms: number, pattern: string, zone?: string): string;
  /** Today's date in `zone`, "YYYY-MM-DD". */
  today(zone?: string): string;
  /** Midnight at the start of a "YYYY-MM-DD" date in `zone`, in ms; NaN if the text is not a date. */
  parseDate(date: string, zone?: string): number;
  /** Whole days from one "YYYY-MM-DD" date to another (negative if `to` is earlier); NaN if either is bad. */
  days(from: string, to: string): number;
};
/** Randomness from the operating system (not Math.random). */
export declare const random: {
  /** A number from 0 up to (not including) 1. */
  float(): number;
  /** A whole number from min to max, both included. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T | undefined;
  /** A shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
  /** `length` characters from `alphabet` (default: letters, digits and symbols, no look-alikes). */
  string(length: number, alphabet?: string): string;
};
export interface NumberFormat {
  /** Exactly this many decimals. */
  decimals?: number;
  /** Without `decimals`: at most this many (default 2), trailing zeros dropped. */
  maxDecimals?: number;
  /** Thousands separators: 1,234,567.5 */
  grouping?: boolean;
}
/** Text for numbers without Intl. Non-finite numbers show as "–". */
export declare const format: {
  number(x: number, options?: NumberFormat): string;
  /** Milliseconds as "mm:ss" ("h:mm:ss" from an hour on), rounded down; tenths adds ".d". */
  duration(ms: number, options?: { tenths?: boolean }): string;
  /** pad(7, 2) -> "07" */
  pad(n: number, width: number): string;
};

// ---- capabilities ------------------------------------------------------------------------------------
export declare const caps: {
  /** The scopes this app holds. */
  list(): Scope[];
  has(scope: Scope | string): boolean;
};

/** Declared for apps that log; lines go to the app host's log, rate-limited. */
declare global {
  const console: {
    log(...parts: unknown[]): void;
    info(...parts: unknown[]): void;
    warn(...parts: unknown[]): void;
    error(...parts: unknown[]): void;
  };
}
