/**
 * How much disk a directory uses, as the kubelet measures an emptyDir (`du`: allocated blocks,
 * not apparent sizes, so a sparse file counts what it holds), with a bounded cost: the walk stops
 * as soon as the total passes `limitBytes` (all that is asked is whether it does) and after
 * `maxEntries` entries (then the answer is what was counted, `complete: false`). Symbolic links
 * are counted, never followed, and other filesystems are not entered (`du -x`).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const MAX_ENTRIES = 100_000;

export interface Usage {
  bytes: number;
  /** False when the walk stopped at maxEntries before the limit was passed. */
  complete: boolean;
}

export function diskUsage(dir: string, limitBytes: number, maxEntries = MAX_ENTRIES): Usage {
  let bytes = 0;
  let entries = 0;
  let root: ReturnType<typeof lstatSync>;
  try {
    root = lstatSync(dir);
  } catch {
    return { bytes: 0, complete: true };
  }
  const stack = [dir];
  while (stack.length > 0) {
    const here = stack.pop() as string;
    let names: string[];
    try {
      names = readdirSync(here);
    } catch {
      continue; // removed meanwhile, or unreadable: the container's business
    }
    for (const name of names) {
      if (++entries > maxEntries) return { bytes, complete: false };
      const path = join(here, name);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      bytes += st.blocks * 512;
      if (bytes > limitBytes) return { bytes, complete: true };
      if (st.isDirectory() && st.dev === root.dev) stack.push(path);
    }
  }
  return { bytes, complete: true };
}
