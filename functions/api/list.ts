/**
 * GET on a collection: `PodList`-style lists with `metadata.resourceVersion`, filtered by
 * `labelSelector` (the store does it), `fieldSelector` (here) and paged by `limit`/`continue`.
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
 */
import type { KindInfo } from '../../schemas';
import { BadRequestError } from '../errors';
import type { ListOptions, Obj } from '../store/types';
import type { ApiDeps } from './types';

/** Fields every kind can be selected by, plus a few per kind (those kubectl and the agent use). */
const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];
const KIND_FIELDS: Record<string, string[]> = {
  Pod: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
  ],
  Node: ['spec.unschedulable'],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'reason',
    'type',
    'source',
  ],
  Secret: ['type'],
  Namespace: ['status.phase'],
  ReplicaSet: ['status.replicas'],
};

interface FieldRequirement {
  field: string;
  value: string;
  equal: boolean;
}

export function parseFieldSelector(kind: string, selector: string | null): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const raw of (selector ?? '').split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const m = /^([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m)
      throw new BadRequestError(
        `invalid field selector ${JSON.stringify(selector)}: cannot parse ${JSON.stringify(term)}`,
      );
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!COMMON_FIELDS.includes(field) && !(KIND_FIELDS[kind] ?? []).includes(field)) {
      throw new BadRequestError(`field label not supported for ${kind}: ${field}`);
    }
    out.push({ field, value: value.trim(), equal: op !== '!=' });
  }
  return out;
}

export function matchesFields(obj: Obj, fields: FieldRequirement[]): boolean {
  return fields.every((f) => (fieldValue(obj, f.field) === f.value) === f.equal);
}

function fieldValue(obj: Obj, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export async function listObjects(
  deps: ApiDeps,
  info: KindInfo,
  namespace: string | undefined,
  query: URLSearchParams,
): Promise<Obj> {
  const fields = parseFieldSelector(info.kind, query.get('fieldSelector'));
  const options: ListOptions = {};
  if (namespace !== undefined) options.namespace = namespace;
  const labelSelector = query.get('labelSelector');
  if (labelSelector) options.labelSelector = labelSelector;
  // Pods by node come from the store's index.
  const byNode = fields.find((f) => f.field === 'spec.nodeName' && f.equal && f.value !== '');
  if (byNode && info.kind === 'Pod') options.nodeName = byNode.value;

  const { items, resourceVersion } = await deps.store.list(info.kind, options);
  let selected = items.filter((obj) => matchesFields(obj, fields));

  const after = decodeContinue(query.get('continue'));
  if (after) selected = selected.filter((o) => keyOf(o) > after);
  const limit = parseLimit(query.get('limit'));
  const metadata: Record<string, unknown> = { resourceVersion };
  if (limit !== undefined && selected.length > limit) {
    const page = selected.slice(0, limit);
    metadata.continue = Buffer.from(keyOf(page[page.length - 1] as Obj), 'utf8').toString('base64url');
    metadata.remainingItemCount = selected.length - limit;
    selected = page;
  }
  return { apiVersion: info.apiVersion, kind: info.listKind, metadata, items: selected } as unknown as Obj;
}

/** The store sorts by namespace then name; NUL cannot occur in either, so this key sorts the same way. */
function keyOf(obj: Obj): string {
  return `${obj.metadata.namespace ?? ''}\u0000${obj.metadata.name}`;
}

function decodeContinue(token: string | null): string | undefined {
  if (!token) return undefined;
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!key.includes('\u0000')) throw new BadRequestError('the continue token is not valid; list again without it');
  return key;
}

function parseLimit(raw: string | null): number | undefined {
  if (raw === null || raw === '' || raw === '0') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BadRequestError('limit must be a whole number >= 0');
  return n;
}
