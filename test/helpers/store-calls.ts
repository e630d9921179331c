/**
 * A store that records every call made through it, as `method kind` (`get Service`, `list Pod`):
 * for tests that pin how much a path reads, or whether a controller ran at all.
 */
import type { StateStore } from '../../functions/store/types';

export function countingStore(store: StateStore): { store: StateStore; calls: string[] } {
  const calls: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const first = args[0] as { kind?: string } | string | undefined;
        calls.push(`${String(key)} ${typeof first === 'string' ? first : (first?.kind ?? '')}`);
        return value.apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

/** Waits until `cond` holds, polling every 10 ms; fails naming `what` after `ms`. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
