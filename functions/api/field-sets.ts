/**
 * Server-side apply's field sets: which fields of an object a manager owns, at the granularity of
 * leaf fields and of list items keyed by their merge keys (schemas/list-keys.ts, the keys the
 * strategic merge patch uses), and their `FieldsV1` encoding in `metadata.managedFields`
 * (`{"f:spec":{"f:replicas":{},"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}`).
 * https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management
 *
 * A path is a list of elements: `f:<field>` (a map key), `k:<json of the key>` (a keyed list
 * item), `v:<json of the value>` (an item of a set of primitives) and `.` (the list item itself).
 * Atomic lists, primitives and empty maps are leaves. A set holds each path JSON-encoded.
 */
import { mergeKeyAt } from '../../schemas/list-keys';
import { SERVER_METADATA } from './admission';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export type FieldSet = Set<string>;

/** Fields the server owns or that name the object: never in a manager's set (as the API server strips them). */
const STRIPPED_METADATA = new Set<string>(['name', 'namespace', ...SERVER_METADATA]);

/** Every field `obj` sets (its status left out: the main resource's writes never change it). */
export function fieldsOf(kind: string, obj: Rec): FieldSet {
  const out: FieldSet = new Set();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'status') continue;
    if (key === 'metadata' && isRec(value)) {
      for (const [m, v] of Object.entries(value))
        if (!STRIPPED_METADATA.has(m)) walk(kind, v, ['metadata', m], `${open('f:metadata')},${el(`f:${m}`)}`, out);
      continue;
    }
    walk(kind, value, [key], open(`f:${key}`), out);
  }
  return out;
}

/**
 * Paths are built as their JSON text without the closing bracket (`["f:spec","f:replicas"`):
 * appending an element is a concatenation, and a set member is `path + ']'` (stringifying each
 * path array was most of a write's bookkeeping cost).
 */
const open = (first: string) => `[${JSON.stringify(first)}`;
const el = (element: string) => JSON.stringify(element);

function walk(kind: string, value: unknown, fieldPath: string[], path: string, out: FieldSet): void {
  if (isRec(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) out.add(`${path}]`);
    for (const [k, v] of entries) walk(kind, v, [...fieldPath, k], `${path},${el(`f:${k}`)}`, out);
    return;
  }
  if (Array.isArray(value)) {
    const key = mergeKeyAt(kind, fieldPath);
    if (key === '' && value.every((v) => !isRec(v) && !Array.isArray(v))) {
      for (const v of value) out.add(`${path},${el(`v:${JSON.stringify(v)}`)}]`);
      return;
    }
    if (key && value.every((e) => isRec(e) && e[key] !== undefined)) {
      for (const e of value as Rec[]) {
        const item = `${path},${el(`k:${JSON.stringify({ [key]: e[key] })}`)}`;
        out.add(`${item},"."]`);
        for (const [k, v] of Object.entries(e)) walk(kind, v, [...fieldPath, k], `${item},${el(`f:${k}`)}`, out);
      }
      return;
    }
  }
  out.add(`${path}]`);
}

/**
 * The fields `after` sets that `before` did not set to the same value (a new list item counts
 * with its `.`): what a write changed, in one walk of both objects.
 */
export function changedFields(kind: string, before: Rec | undefined, after: Rec): FieldSet {
  const out: FieldSet = new Set();
  const wasMeta = isRec(before?.metadata) ? (before.metadata as Rec) : undefined;
  for (const [key, value] of Object.entries(after)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'status') continue;
    if (key === 'metadata' && isRec(value)) {
      for (const [m, v] of Object.entries(value))
        if (!STRIPPED_METADATA.has(m))
          diff(kind, wasMeta?.[m], v, ['metadata', m], `${open('f:metadata')},${el(`f:${m}`)}`, out);
      continue;
    }
    diff(kind, before?.[key], value, [key], open(`f:${key}`), out);
  }
  return out;
}

function diff(kind: string, was: unknown, value: unknown, fieldPath: string[], path: string, out: FieldSet): void {
  if (isRec(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0 && !(isRec(was) && Object.keys(was).length === 0)) out.add(`${path}]`);
    const prev = isRec(was) ? was : undefined;
    for (const [k, v] of entries) diff(kind, prev?.[k], v, [...fieldPath, k], `${path},${el(`f:${k}`)}`, out);
    return;
  }
  if (Array.isArray(value)) {
    const key = mergeKeyAt(kind, fieldPath);
    const prev = Array.isArray(was) ? was : [];
    if (key === '' && value.every((v) => !isRec(v) && !Array.isArray(v))) {
      const had = new Set(prev.map((v) => JSON.stringify(v)));
      for (const v of value)
        if (!had.has(JSON.stringify(v))) out.add(JSON.stringify([...path, `v:${JSON.stringify(v)}`]));
      return;
    }
    if (key && value.every((e) => isRec(e) && e[key] !== undefined)) {
      const byKey = new Map(prev.filter(isRec).map((e) => [JSON.stringify(e[key]), e]));
      for (const e of value as Rec[]) {
        const id = JSON.stringify(e[key]);
        const item = `${path},${el(`k:${JSON.stringify({ [key]: e[key] })}`)}`;
        const old = byKey.get(id);
        if (!old) out.add(`${item},"."]`);
        for (const [k, v] of Object.entries(e))
          diff(kind, old?.[k], v, [...fieldPath, k], `${item},${el(`f:${k}`)}`, out);
      }
      return;
    }
  }
  if (was !== value && (typeof value !== 'object' || JSON.stringify(was) !== JSON.stringify(value)))
    out.add(`${path}]`);
}

/** The value at `path` in `obj` (`.` is the item itself), or undefined when it is not there. */
export function valueAt(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const el of path) {
    if (el === '.') continue;
    if (el.startsWith('f:')) cur = isRec(cur) ? cur[el.slice(2)] : undefined;
    else if (el.startsWith('k:')) cur = Array.isArray(cur) ? cur[itemIndex(cur, el)] : undefined;
    else if (el.startsWith('v:'))
      cur =
        Array.isArray(cur) && cur.some((v) => JSON.stringify(v) === el.slice(2)) ? JSON.parse(el.slice(2)) : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Removes what `path` names from `obj` in place (a field, a keyed item, a set member). */
export function removeAt(obj: unknown, path: string[]): void {
  const last = path[path.length - 1] as string;
  const itemPath = last === '.' ? path.slice(0, -1) : path;
  const tail = itemPath[itemPath.length - 1] as string;
  const parent = valueAt(obj, itemPath.slice(0, -1));
  if (tail.startsWith('f:') && isRec(parent)) delete parent[tail.slice(2)];
  else if (tail.startsWith('k:') && Array.isArray(parent)) {
    const i = itemIndex(parent, tail);
    if (i !== -1) parent.splice(i, 1);
  } else if (tail.startsWith('v:') && Array.isArray(parent)) {
    const i = parent.findIndex((v) => JSON.stringify(v) === tail.slice(2));
    if (i !== -1) parent.splice(i, 1);
  }
}

function itemIndex(list: unknown[], el: string): number {
  const key = JSON.parse(el.slice(2)) as Rec;
  const [[name, value]] = Object.entries(key) as [[string, unknown]];
  return list.findIndex((e) => isRec(e) && JSON.stringify(e[name]) === JSON.stringify(value));
}

/** A set as `FieldsV1`: nested objects keyed by path elements, `{}` at each leaf. */
export function toFieldsV1(set: FieldSet): Rec {
  const root: Rec = {};
  for (const encoded of [...set].sort()) {
    let node = root;
    for (const el of JSON.parse(encoded) as string[]) {
      node[el] ??= {};
      node = node[el] as Rec;
    }
  }
  return root;
}

/** `FieldsV1` back to a set; anything that is not one (hand-written managedFields) yields what it can. */
export function fromFieldsV1(fields: unknown): FieldSet {
  const out: FieldSet = new Set();
  const visit = (node: unknown, path: string) => {
    if (!isRec(node)) return;
    const children = Object.entries(node);
    if (children.length === 0 && path !== '') out.add(`${path}]`);
    for (const [element, child] of children) visit(child, path === '' ? open(element) : `${path},${el(element)}`);
  };
  visit(fields, '');
  return out;
}

/** `.spec.replicas`, `.spec.template.spec.containers[name="web"].image`: how the API server names a field in conflicts. */
export function describePath(path: string[]): string {
  let out = '';
  for (const el of path) {
    if (el === '.') continue;
    if (el.startsWith('f:')) out += `.${el.slice(2)}`;
    else if (el.startsWith('k:'))
      out += `[${Object.entries(JSON.parse(el.slice(2)) as Rec)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    else out += `[=${el.slice(2)}]`;
  }
  return out;
}
