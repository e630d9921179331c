/**
 * The one walk over a parsed value before anything recursive touches it: nesting depth, keys
 * that name prototype machinery, numbers JSON cannot carry (YAML's .inf/.nan) and the size the
 * value would have as JSON. The size is what matters after YAML alias expansion or a JSON patch:
 * a 451 KB document whose value is aliased 99 times is 45 MB once stored, though it parsed from
 * 451 KB. The walk is iterative and stops at the size limit, so a shared (aliased) subtree is
 * never walked further than the limit allows.
 */
import { joinPath } from './causes';

/** Deeper than any real manifest (a Deployment's pod template is ~12 levels). */
export const MAX_DEPTH = 64;
/**
 * The largest object ferry stores, as JSON: etcd's default request limit (1.5 MiB), which is what
 * bounds a Kubernetes object. Lists and watches of a namespace stay proportional to what was sent.
 */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;
/** Keys that could reach Object.prototype if any code ever assigned them; refused outright. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type Rec = Record<string, unknown>;
export const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export type TreeProblem =
  | { type: 'depth'; path: string }
  | { type: 'key'; path: string; key: string }
  | { type: 'number'; path: string; value: number }
  | { type: 'size'; path: string; limit: number };

/**
 * Problems of `root` in document order, at most `limit` of them; a size problem ends the walk.
 * `maxBytes` bounds the JSON size (an estimate within a few bytes per value: quotes, commas).
 */
export function treeProblems(root: unknown, maxBytes = MAX_OBJECT_BYTES, limit = 20): TreeProblem[] {
  const problems: TreeProblem[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  let bytes = 0;
  while (stack.length > 0 && problems.length < limit) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number };
    if (typeof value === 'string') bytes += value.length + 2;
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push({ type: 'number', path, value });
      bytes += 8;
    } else bytes += 5;
    if (bytes > maxBytes) {
      problems.push({ type: 'size', path, limit: maxBytes });
      break;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) {
      problems.push({ type: 'depth', path });
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const child = joinPath(path, key);
      bytes += key.length + 3;
      if (FORBIDDEN_KEYS.has(key)) problems.push({ type: 'key', path: child, key });
      else stack.push({ value: (value as Rec)[key], path: child, depth: depth + 1 });
    }
  }
  return problems;
}

/** The JSON size of `value` (estimated as treeProblems does), or `Infinity` once past `maxBytes`. */
export function sizeUpTo(value: unknown, maxBytes: number): number {
  const stack: unknown[] = [value];
  let bytes = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += v.length + 2;
    else if (Array.isArray(v)) {
      bytes += 2;
      for (const item of v) stack.push(item);
    } else if (isRec(v)) {
      bytes += 2;
      for (const [k, item] of Object.entries(v)) {
        bytes += k.length + 3;
        stack.push(item);
      }
    } else bytes += 8;
    if (bytes > maxBytes) return Number.POSITIVE_INFINITY;
  }
  return bytes;
}
