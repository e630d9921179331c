/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), what `kubectl apply`, `edit`,
 * `scale`, `label` and `annotate` send. Like a JSON merge patch, except that the lists Kubernetes
 * marks `patchStrategy: merge` are merged element by element on their key (a container by `name`,
 * a container port by `containerPort`, a Service port by `port` ...), and the directives kubectl
 * emits are honoured: `$patch: delete | replace | merge`, `$setElementOrder/<list>`,
 * `$deleteFromPrimitiveList/<list>` and `$retainKeys`.
 * https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
 *
 * The merge keys come from the table of the list fields ferry's kinds have (schemas/list-keys.ts,
 * also what the OpenAPI documents tell kubectl). Other lists are replaced whole, as the Kubernetes
 * types say for them.
 */
import { mergeKeyAt } from '../../schemas/list-keys';
import { BadRequestError } from '../errors';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export function strategicMergePatch(kind: string, target: unknown, patch: unknown): unknown {
  if (!isRec(patch)) throw new BadRequestError('a strategic merge patch must be a JSON object');
  return mergeMap(kind, [], isRec(target) ? target : {}, patch);
}

function mergeMap(kind: string, path: string[], target: Rec, patch: Rec): Rec {
  const directive = patch.$patch;
  if (directive === 'replace') {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  if (directive === 'delete') return {};
  if (directive !== undefined && directive !== 'merge')
    throw new BadRequestError(`${where(path)}: unknown $patch directive ${JSON.stringify(directive)}`);
  const out: Rec = structuredClone(target);
  const orders: [string, unknown][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch') continue;
    if (key === '$retainKeys') {
      if (!Array.isArray(value)) throw new BadRequestError(`${where(path)}: $retainKeys must be a list`);
      const keep = new Set([...value.map(String), ...Object.keys(patch)]);
      for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
      continue;
    }
    if (key.startsWith('$setElementOrder/')) {
      orders.push([key.slice('$setElementOrder/'.length), value]);
      continue;
    }
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      if (!Array.isArray(value)) throw new BadRequestError(`${where([...path, key])}: must be a list`);
      const gone = new Set(value.map((v) => JSON.stringify(v)));
      if (Array.isArray(out[field])) out[field] = (out[field] as unknown[]).filter((v) => !gone.has(JSON.stringify(v)));
      continue;
    }
    if (key.startsWith('$')) throw new BadRequestError(`${where([...path, key])}: unknown directive`);
    const at = [...path, key];
    if (value === null) delete out[key];
    else if (Array.isArray(value)) out[key] = mergeList(kind, at, out[key], value);
    else if (isRec(value)) out[key] = mergeMap(kind, at, isRec(out[key]) ? (out[key] as Rec) : {}, value);
    else out[key] = value;
  }
  for (const [field, order] of orders) reorder(kind, [...path, field], out, field, order);
  return out;
}

function mergeList(kind: string, path: string[], target: unknown, patch: unknown[]): unknown[] {
  const key = mergeKeyAt(kind, path);
  const current = Array.isArray(target) ? target : [];
  if (key === undefined) {
    // A list replaced whole; `{$patch: replace}` markers in it are dropped.
    return structuredClone(patch.filter((e) => !(isRec(e) && e.$patch === 'replace' && Object.keys(e).length === 1)));
  }
  if (patch.some((e) => isRec(e) && e.$patch === 'replace')) {
    return structuredClone(patch.filter((e) => !(isRec(e) && e.$patch === 'replace')));
  }
  if (key === '') {
    // A set of primitives: add what is new.
    const out = structuredClone(current);
    const have = new Set(out.map((v) => JSON.stringify(v)));
    for (const v of patch) if (!have.has(JSON.stringify(v))) out.push(structuredClone(v));
    return out;
  }
  const out: unknown[] = structuredClone(current);
  for (const element of patch) {
    if (!isRec(element) || element[key] === undefined)
      throw new BadRequestError(`${where(path)}: each element must be an object with "${key}"`);
    const index = out.findIndex((e) => isRec(e) && e[key] === element[key]);
    if (element.$patch === 'delete') {
      if (index !== -1) out.splice(index, 1);
      continue;
    }
    if (index === -1) {
      const { $patch: _, ...fresh } = element;
      out.push(mergeMap(kind, path, {}, fresh));
    } else out[index] = mergeMap(kind, path, out[index] as Rec, element);
  }
  return out;
}

/** `$setElementOrder/<field>`: the merged list in this order (keys given as `{key: value}`), others after. */
function reorder(kind: string, path: string[], out: Rec, field: string, order: unknown): void {
  if (!Array.isArray(order)) throw new BadRequestError(`${where(path)}: $setElementOrder must be a list`);
  const list = out[field];
  if (!Array.isArray(list)) return;
  const key = mergeKeyAt(kind, path);
  const id = (e: unknown) => (key ? (isRec(e) ? JSON.stringify(e[key]) : undefined) : JSON.stringify(e));
  const rank = new Map(
    order.map((o, i) => [key ? (isRec(o) ? JSON.stringify(o[key]) : undefined) : JSON.stringify(o), i]),
  );
  out[field] = [...list].sort(
    (a, b) => (rank.get(id(a)) ?? Number.MAX_SAFE_INTEGER) - (rank.get(id(b)) ?? Number.MAX_SAFE_INTEGER),
  );
}

function where(path: string[]): string {
  return path.length ? path.join('.') : 'the patch';
}
