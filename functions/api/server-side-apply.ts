/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`, what `kubectl apply
 * --server-side` sends) and the field ownership it rests on, `metadata.managedFields`.
 * https://kubernetes.io/docs/reference/using-api/server-side-apply/
 *
 * An apply sends a manager's whole intent for the object. The server merges it into the live
 * object (maps by key, lists by their merge key, atomic lists and values replaced), removes what
 * the manager applied last time and no longer does (unless another manager owns it too), and
 * records the applied fields as the manager's. A field another manager owns whose applied value
 * differs from the live one is a conflict: 409 naming each field, unless `force=true`, which takes
 * it over. Other writes through the API (create, update, patch) are recorded as `Update` entries
 * that own the fields they changed, taken from every other manager, as the API server does.
 *
 * Bounded where Kubernetes is not (see README, kubectl): field sets come from ferry's list-key
 * table rather than per-type schemas; writes by ferry's controllers and to subresources are not
 * recorded; a field that stops being applied is removed whole, not reset to a default by type.
 */

import { mergeKeyAt } from '../../schemas/list-keys';
import { isoTime } from '../../schemas/time';
import { BadRequestError, FerryError, InvalidError } from '../errors';
import type { Obj } from '../store/types';
import {
  changedFields,
  describePath,
  type FieldSet,
  fieldsOf,
  fromFieldsV1,
  removeAt,
  toFieldsV1,
  valueAt,
} from './field-sets';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const APPLY_PATCH_TYPE = 'application/apply-patch+yaml';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Rec;
}

/** `metadata.managedFields` (ObjectMeta types it loosely: it is the server's). */
export function managedOf(obj: Obj): ManagedFieldsEntry[] | undefined {
  const list = (obj.metadata as unknown as Rec).managedFields;
  return Array.isArray(list) ? (list as ManagedFieldsEntry[]) : undefined;
}

export function setManaged(obj: Obj, list: ManagedFieldsEntry[]): void {
  const meta = obj.metadata as unknown as Rec;
  if (list.length > 0) meta.managedFields = list;
  else delete meta.managedFields;
}

interface Owner {
  entry: ManagedFieldsEntry;
  fields: FieldSet;
}

/**
 * The request's manager: `fieldManager`, else (not for apply, where it is required) the
 * User-Agent up to its first `/`, as the API server names it.
 */
export function fieldManagerOf(query: URLSearchParams, headers: Record<string, string>, apply: boolean): string {
  const given = query.get('fieldManager');
  if (given !== null) {
    if (given === '' || given.length > 128 || !/^[\x20-\x7e]+$/.test(given))
      throw new InvalidError('PatchOptions', '', [
        {
          field: 'fieldManager',
          reason: 'FieldValueInvalid',
          message: 'Invalid value: must be 1 to 128 printable characters',
        },
      ]);
    return given;
  }
  if (apply)
    throw new BadRequestError('PATCH, application/apply-patch+yaml: fieldManager is required for apply requests');
  return (headers['user-agent'] ?? '').split('/')[0]?.slice(0, 128) || 'unknown';
}

/** `force`: "true" or "false" (absent is false); only apply takes it. */
export function forceOf(query: URLSearchParams, apply: boolean): boolean {
  const v = query.get('force');
  if (v === null) return false;
  if (!apply)
    throw new BadRequestError('force: only allowed for apply patches (Content-Type application/apply-patch+yaml)');
  if (v !== 'true' && v !== 'false')
    throw new BadRequestError(`force: must be "true" or "false", got ${JSON.stringify(v.slice(0, 40))}`);
  return v === 'true';
}

function owners(obj: Obj | undefined): Owner[] {
  const entries = obj ? (managedOf(obj) ?? []) : [];
  return entries.filter(isRec).map((entry) => ({ entry, fields: fromFieldsV1(entry.fieldsV1) }));
}

function entry(
  manager: string,
  operation: 'Apply' | 'Update',
  apiVersion: string,
  now: number,
  fields: FieldSet,
): ManagedFieldsEntry {
  return { manager, operation, apiVersion, time: isoTime(now), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(fields) };
}

function entries(list: Owner[]): ManagedFieldsEntry[] {
  return list.filter((o) => o.fields.size > 0).map((o) => ({ ...o.entry, fieldsV1: toFieldsV1(o.fields) }));
}

/** The API server's rule: ownership is the server's to record, never part of an applied intent. */
export function checkNoManagedFields(config: Obj): void {
  if ((config.metadata as unknown as Rec).managedFields !== undefined)
    throw new BadRequestError('metadata.managedFields must be nil in an applied configuration');
}

/**
 * The object an apply of `config` by `manager` makes of `live` (undefined: it is created), with
 * its managedFields. Throws 409 listing every conflict unless `force`.
 */
export function applyConfiguration(
  live: Obj | undefined,
  config: Obj,
  manager: string,
  force: boolean,
  now: number,
): Obj {
  checkNoManagedFields(config);
  const kind = config.kind;
  const applied = fieldsOf(kind, config as unknown as Rec);
  const all = owners(live);
  const mine = all.find((o) => o.entry.manager === manager && o.entry.operation === 'Apply');
  const others = all.filter((o) => o !== mine);

  const conflicts: { owner: Owner; path: string[] }[] = [];
  for (const encoded of applied) {
    const path = JSON.parse(encoded) as string[];
    if (path[path.length - 1] === '.') continue;
    const owning = others.filter((o) => o.fields.has(encoded));
    if (owning.length === 0 || (live && same(valueAt(config, path), valueAt(live, path)))) continue;
    for (const owner of owning) conflicts.push({ owner, path });
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);
  for (const { owner, path } of conflicts) owner.fields.delete(JSON.stringify(path));

  const next = (live ? merge(kind, [], live, config) : structuredClone(config)) as Obj;
  // What this manager applied before and no longer does goes, unless someone else holds it.
  for (const encoded of mine?.fields ?? []) {
    if (applied.has(encoded)) continue;
    const path = JSON.parse(encoded) as string[];
    const item = path[path.length - 1] === '.' ? JSON.stringify(path.slice(0, -1)).slice(0, -1) : undefined;
    const held = others.some(
      (o) => o.fields.has(encoded) || (item !== undefined && [...o.fields].some((f) => f.startsWith(item))),
    );
    if (held) continue;
    removeAt(next, path);
    // A map the removal emptied goes too, unless someone owns it as such (`labels: {}` applied).
    for (let i = path.length - 1; i > 0; i--) {
      const parent = path.slice(0, i);
      const value = valueAt(next, parent);
      const owned = [applied, ...others.map((o) => o.fields)].some((set) => set.has(JSON.stringify(parent)));
      if (!isRec(value) || Object.keys(value).length > 0 || owned) break;
      removeAt(next, parent);
    }
  }
  setManaged(next, [...entries(others), entry(manager, 'Apply', config.apiVersion, now, applied)]);
  return next;
}

/**
 * managedFields after a non-apply write of `next` over `stored` by `manager`: it owns what it
 * changed, every other manager loses that and what the write removed. A write that sets
 * managedFields itself (kubectl's client-side to server-side migration) is taken as written;
 * `[{}]` clears them.
 */
export function trackUpdate(stored: Obj | undefined, next: Obj, given: unknown, manager: string, now: number): void {
  const before = stored ? managedOf(stored) : undefined;
  if (Array.isArray(given) && given.length > 0 && !same(given, before)) {
    setManaged(next, checkedEntries(next, given));
    return;
  }
  const kind = next.kind;
  const after = fieldsOf(kind, next as unknown as Rec);
  const changed = changedFields(kind, stored as unknown as Rec | undefined, next as unknown as Rec);
  const list = owners(stored);
  for (const o of list) for (const p of o.fields) if (changed.has(p) || !after.has(p)) o.fields.delete(p);
  if (changed.size > 0) {
    const own = list.find((o) => o.entry.manager === manager && o.entry.operation === 'Update');
    if (own) {
      for (const p of changed) own.fields.add(p);
      own.entry = { ...own.entry, time: isoTime(now), apiVersion: next.apiVersion };
    } else list.push({ entry: entry(manager, 'Update', next.apiVersion, now, changed), fields: changed });
  }
  const kept = entries(list);
  setManaged(next, kept);
}

function checkedEntries(obj: Obj, given: unknown[]): ManagedFieldsEntry[] {
  if (given.every((e) => isRec(e) && Object.keys(e).length === 0)) return [];
  const causes = given.flatMap((e, i) => {
    const field = `metadata.managedFields[${i}]`;
    if (!isRec(e)) return [{ field, reason: 'FieldValueInvalid', message: 'Invalid value: must be an object' }];
    const bad: { field: string; reason: string; message: string }[] = [];
    if (typeof e.manager !== 'string')
      bad.push({ field: `${field}.manager`, reason: 'FieldValueRequired', message: 'Required value' });
    if (e.operation !== 'Apply' && e.operation !== 'Update')
      bad.push({
        field: `${field}.operation`,
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: supported values: "Apply", "Update"',
      });
    if (e.fieldsType !== 'FieldsV1' || !isRec(e.fieldsV1))
      bad.push({
        field: `${field}.fieldsType`,
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: supported values: "FieldsV1" (with fieldsV1)',
      });
    return bad;
  });
  if (causes.length > 0) throw new InvalidError(obj.kind, obj.metadata.name, causes);
  return given as ManagedFieldsEntry[];
}

/** The API server's words: `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`. */
function conflictError(conflicts: { owner: Owner; path: string[] }[]): FerryError {
  const who = (o: Owner) =>
    `"${o.entry.manager}"${o.entry.operation === 'Update' ? ` using ${o.entry.apiVersion}` : ''}`;
  const n = conflicts.length;
  let detail: string;
  if (n === 1) {
    const [c] = conflicts as [{ owner: Owner; path: string[] }];
    detail = `conflict with ${who(c.owner)}: ${describePath(c.path)}`;
  } else {
    const byOwner = new Map<string, string[]>();
    for (const c of conflicts) byOwner.set(who(c.owner), [...(byOwner.get(who(c.owner)) ?? []), describePath(c.path)]);
    detail = `conflicts with${[...byOwner].map(([o, paths]) => ` ${o}:${paths.map((p) => `\n- ${p}`).join('')}`).join('')}`;
  }
  return new FerryError(409, 'Conflict', `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: ${detail}`, {
    causes: conflicts.map((c) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${who(c.owner)}`,
      field: describePath(c.path),
    })),
  });
}

/** The applied configuration merged into the live object: maps by key, keyed lists by item. */
function merge(kind: string, fieldPath: string[], live: unknown, config: unknown): unknown {
  if (isRec(live) && isRec(config)) {
    const out: Rec = structuredClone(live);
    for (const [k, v] of Object.entries(config)) out[k] = merge(kind, [...fieldPath, k], live[k], v);
    return out;
  }
  if (Array.isArray(live) && Array.isArray(config) && fieldPath.length > 0) {
    const key = mergeKeyAt(kind, fieldPath);
    if (key === '') return [...structuredClone(live), ...config.filter((v) => !live.some((l) => same(l, v)))];
    if (key && [...live, ...config].every((e) => isRec(e) && e[key] !== undefined)) {
      const out = structuredClone(live) as Rec[];
      for (const item of config as Rec[]) {
        const i = out.findIndex((e) => same(e[key], item[key]));
        if (i === -1) out.push(structuredClone(item));
        else out[i] = merge(kind, fieldPath, out[i], item) as Rec;
      }
      return out;
    }
  }
  return structuredClone(config);
}
