// Type declarations for `@llm-os/sdk`, the only module an LLM OS app may import.
//
// The runtime behind these types is sdk/js/runtime.js, run inside the app's QuickJS sandbox.
// Functions marked "needs <scope>" exist ONLY when the app was granted that capability: without it
// the property is undefined at run time (the namespace object still exists so imports resolve).
// They are typed as present because an app's manifest grants what its code calls (the static
// analysis checks that); code that can run without a grant tests `caps.has(scope)` first.

export type Scope =
  | "storage:local" | "ui:window" | "clipboard:read" | "clipboard:write" | "notify" | "timer"
  | `network:${string}` | `bus:${string}`;

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
export interface CanvasProps { width: number; height: number; commands: CanvasCommand[] }

/** A widget takes (props, children), or only children when it needs no props: ui.Text("hi"). */
export interface Widget<P extends object> {
  (props: P, children?: Children): UINode<P>;
  (children?: Children): UINode<P>;
}

export type StateSetter<T> = (next: T | ((previous: T) => T)) => void;

export interface NotifyOptions { sound?: boolean; timeout?: number }

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
  /** A value persisted by the kernel in this app's own storage; the setter writes through. */
  readonly useLocal: <T>(key: string, initial: T) => [T, StateSetter<T>];
  readonly get: <T>(key: string, fallback?: T) => T | null;
  readonly set: (key: string, value: unknown) => void;
  readonly remove: (key: string) => void;
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
  /** A repeating countdown of `ms`, stopped at first; `fn` runs each time it reaches zero. */
  readonly useInterval: (fn: () => void, ms: number) => IntervalHandle;
  /** Runs `fn` once, `ms` after the first render. */
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
  readonly publish: (channel: string, message: unknown) => void;
  /** Returns an unsubscribe function. `from` is the sending app's id. */
  readonly subscribe: (channel: string, fn: (message: any, from: string) => void) => () => void;
  /** Hook form: subscribes once, always calls the latest `fn`. */
  readonly useSubscription: (channel: string, fn: (message: any, from: string) => void) => void;
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
