// Tiny external stores: a component subscribes to one value (or one key), so an update
// re-renders only the components that read what changed.
import { useCallback, useSyncExternalStore } from "react";

type Listener = () => void;

export class Signal<T> {
  private value: T;
  private readonly listeners = new Set<Listener>();

  constructor(value: T) {
    this.value = value;
  }

  get = (): T => this.value;

  set(value: T): void {
    if (Object.is(value, this.value)) return;
    this.value = value;
    for (const listener of [...this.listeners]) listener();
  }

  update(change: (value: T) => T): void {
    this.set(change(this.value));
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}

export class KeyedStore<V> {
  private readonly values = new Map<string, V>();
  private readonly listeners = new Map<string, Set<Listener>>();

  get(key: string): V | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  set(key: string, value: V | undefined): void {
    if (Object.is(this.values.get(key), value) && (value !== undefined || !this.values.has(key))) {
      return;
    }
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, value);
    const listeners = this.listeners.get(key);
    if (listeners) for (const listener of [...listeners]) listener();
  }

  subscribe(key: string, listener: Listener): () => void {
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }
}

export function useSignal<T>(signal: Signal<T>): T {
  return useSyncExternalStore(signal.subscribe, signal.get, signal.get);
}

export function useKey<V>(store: KeyedStore<V>, key: string): V | undefined {
  const subscribe = useCallback((listener: Listener) => store.subscribe(key, listener), [store, key]);
  const get = useCallback(() => store.get(key), [store, key]);
  return useSyncExternalStore(subscribe, get, get);
}

/** Structural equality of JSON-like values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** `next`, keeping the objects of `prev` that are equal to their counterpart (same `key`),
 * and `prev` itself when nothing changed: memoized rows then re-render only when their own
 * item changed. */
export function reuseEqual<T>(prev: readonly T[] | null, next: T[], key: (item: T) => string): T[] {
  if (prev === null) return next;
  const old = new Map(prev.map((item) => [key(item), item]));
  let same = prev.length === next.length;
  const merged = next.map((item, i) => {
    const before = old.get(key(item));
    if (before !== undefined && deepEqual(before, item)) {
      if (prev[i] !== before) same = false;
      return before;
    }
    same = false;
    return item;
  });
  return same ? (prev as T[]) : merged;
}
