/**
 * PATCH bodies. `application/merge-patch+json` is RFC 7386 JSON merge patch;
 * `application/strategic-merge-patch+json` (what kubectl sends) merges lists by key
 * (strategic-merge.ts);
 * `application/json-patch+json` is RFC 6902. Inputs have passed body.ts's checkTree, so no key
 * here can name prototype machinery. Results are fresh values; inputs are never mutated.
 */
import { MAX_OBJECT_BYTES, sizeUpTo } from '../../schemas';
import { BadRequestError, FerryError, UnsupportedMediaTypeError } from '../errors';
import { strategicMergePatch } from './strategic-merge';

/** Same rule as body.ts: a pointer may not walk into prototype machinery. */
const FORBIDDEN_TOKENS = new Set(['__proto__', 'constructor', 'prototype']);

/** Kubernetes' own bound on a JSON patch (apiserver's maxJSONPatchOperations). */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;
/**
 * What the `copy` operations of one patch may copy in total, as JSON (Kubernetes bounds it the
 * same way, by its request limit: json-patch's AccumulatedCopySizeLimit). Each copy of a subtree
 * into itself doubles the document: 23 operations of a 1 KB patch would make gigabytes.
 */
export const MAX_COPIED_BYTES = MAX_OBJECT_BYTES;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const PATCH_TYPES = [
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
  // Server-side apply: not a patch of the stored object but a manager's configuration (server-side-apply.ts).
  'application/apply-patch+yaml',
] as const;

export function applyPatch(contentType: string, target: unknown, patch: unknown): unknown {
  switch (contentType) {
    case 'application/merge-patch+json':
      if (!isObject(patch)) throw new BadRequestError('a merge patch must be a JSON object');
      return mergePatch(target, patch);
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(isObject(target) ? String(target.kind ?? '') : '', target, patch);
    case 'application/json-patch+json':
      return jsonPatch(target, patch);
    default:
      throw new UnsupportedMediaTypeError(contentType);
  }
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

/** RFC 6902: add, remove, replace, move, copy, test; a failing operation fails the whole patch. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new BadRequestError('a JSON patch must be an array of operations');
  if (ops.length > MAX_JSON_PATCH_OPERATIONS)
    throw new FerryError(
      413,
      'RequestEntityTooLarge',
      `a JSON patch may have at most ${MAX_JSON_PATCH_OPERATIONS} operations (got ${ops.length})`,
    );
  let doc = structuredClone(target) as Json;
  const copied = { bytes: 0 };
  ops.forEach((raw, i) => {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new BadRequestError(`JSON patch operation ${i}: needs "op" and "path"`);
    }
    const op = raw as unknown as Operation;
    const fail = (why: string) => new BadRequestError(`JSON patch operation ${i} (${op.op} ${op.path}): ${why}`);
    try {
      doc = applyOperation(doc, op, fail, copied);
    } catch (err) {
      if (err instanceof FerryError) throw err;
      throw fail((err as Error).message);
    }
  });
  return doc;
}

function applyOperation(doc: Json, op: Operation, fail: (why: string) => Error, copied: { bytes: number }): Json {
  const needValue = () => {
    if (!('value' in op)) throw fail('needs "value"');
    return structuredClone(op.value) as Json;
  };
  switch (op.op) {
    case 'add':
      return add(doc, pointer(op.path, fail), needValue(), fail);
    case 'remove':
      return remove(doc, pointer(op.path, fail), fail).doc;
    case 'replace': {
      const path = pointer(op.path, fail);
      return add(remove(doc, path, fail).doc, path, needValue(), fail);
    }
    case 'move': {
      if (op.from === undefined) throw fail('needs "from"');
      const removed = remove(doc, pointer(op.from, fail), fail);
      return add(removed.doc, pointer(op.path, fail), removed.value, fail);
    }
    case 'copy': {
      if (op.from === undefined) throw fail('needs "from"');
      const value = get(doc, pointer(op.from, fail), fail);
      copied.bytes += sizeUpTo(value, MAX_COPIED_BYTES - copied.bytes);
      if (copied.bytes > MAX_COPIED_BYTES) {
        throw new FerryError(
          413,
          'RequestEntityTooLarge',
          `JSON patch operation (copy ${op.from} to ${op.path}): the patch copies more than ${MAX_COPIED_BYTES} bytes in total`,
        );
      }
      return add(doc, pointer(op.path, fail), structuredClone(value), fail);
    }
    case 'test':
      if (JSON.stringify(get(doc, pointer(op.path, fail), fail)) !== JSON.stringify(needValue())) {
        throw fail('test failed');
      }
      return doc;
    default:
      throw fail(`unknown op ${JSON.stringify(op.op)}`);
  }
}

function pointer(path: string, fail: (why: string) => Error): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw fail('a path must start with "/"');
  const tokens = path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  const bad = tokens.find((t) => FORBIDDEN_TOKENS.has(t));
  if (bad !== undefined) throw fail(`the key ${JSON.stringify(bad)} is not allowed`);
  return tokens;
}

function get(doc: Json, path: string[], fail: (why: string) => Error): Json {
  let cur: Json = doc;
  for (const token of path) {
    if (Array.isArray(cur)) {
      const i = index(token, cur.length - 1, fail);
      cur = cur[i] as Json;
    } else if (isObject(cur) && Object.hasOwn(cur, token)) cur = cur[token] as Json;
    else throw fail('path does not exist');
  }
  return cur;
}

function add(doc: Json, path: string[], value: Json, fail: (why: string) => Error): Json {
  if (path.length === 0) return value;
  const parent = get(doc, path.slice(0, -1), fail);
  const last = path[path.length - 1] as string;
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : index(last, parent.length, fail);
    parent.splice(i, 0, value);
  } else if (isObject(parent)) parent[last] = value;
  else throw fail('parent is not an object or array');
  return doc;
}

function remove(doc: Json, path: string[], fail: (why: string) => Error): { doc: Json; value: Json } {
  if (path.length === 0) return { doc: null, value: doc };
  const parent = get(doc, path.slice(0, -1), fail);
  const last = path[path.length - 1] as string;
  if (Array.isArray(parent)) {
    const i = index(last, parent.length - 1, fail);
    const [value] = parent.splice(i, 1);
    return { doc, value: value as Json };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const value = parent[last] as Json;
    delete parent[last];
    return { doc, value };
  }
  throw fail('path does not exist');
}

function index(token: string, max: number, fail: (why: string) => Error): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw fail(`${JSON.stringify(token)} is not an array index`);
  const i = Number(token);
  if (i > max) throw fail(`index ${i} is out of range`);
  return i;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
