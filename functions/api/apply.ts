/**
 * POST /apis/ferry.dev/v1/apply[?dryRun=All]: create or update every object of a bundle
 * (multi-document YAML, or JSON: one object, an array, or a v1 List).
 *
 * All or nothing as far as the request is concerned: every object is identified, authorized,
 * defaulted and validated before the first write, so an invalid (422) or forbidden (403) object
 * anywhere writes nothing. An update takes the manifest's labels, annotations and everything but
 * status, replacing what is stored; status and server-set metadata are kept. The bundle then
 * commits in one store transaction with its IP and port claims (`apply-commit.ts`): all of it or
 * none, also when the server is killed mid-commit. A concurrent write to one of its objects makes
 * the commit fail whole; it is re-planned from the store and retried.
 */
import { stringify } from 'yaml';
import { dropNulls, type KindInfo, kinds } from '../../schemas';
import { checkQuota } from '../admission';
import { policyOf } from '../admission/pod-security/policy';
import { clusterIPProblems } from '../cluster-ips';
import { BadRequestError, FerryError, ForbiddenError, InvalidError, type StatusCause } from '../errors';
import { keepAllocated, nodePortProblems } from '../node-ports';
import { isConflictOrExists, retryOnConflict } from '../store/retry';
import type { Obj, ObjectRef } from '../store/types';
import {
  defaultAndValidate,
  hasStatusSubresource,
  immutableChanges,
  isRecord,
  keepServerPodFields,
  resourceLabel,
  SERVER_METADATA,
  stripServerMetadata,
} from './admission';
import { commitBundle } from './apply-commit';
import { type Access, authorize, authorizeObject, type Principal } from './auth';
import { parseDocuments } from './body';
import { unifiedDiff } from './diff';
import { jsonResponse } from './http-errors';
import { restrictNodeWrite } from './node-identity';
import { admitPolicy, warningHeaders } from './policy';
import { nodePortRange, serviceRange } from './resources';
import { FERRY_GROUP, FERRY_VERSION } from './router';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyItem {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  action: ApplyAction;
  diff?: string;
  object: Obj;
}

interface Planned {
  index: number;
  info: KindInfo;
  ref: ObjectRef;
  desired: Obj;
  stored: Obj | undefined;
}

const WRITE_ATTEMPTS = 5;

export async function handleApply(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const dryRunValues = req.query.getAll('dryRun');
  if (dryRunValues.some((v) => v !== 'All')) throw new BadRequestError('dryRun must be "All" when given');
  const dryRun = dryRunValues.length > 0;

  // Before a byte is parsed: a caller that may write nothing (a bootstrap, node or reader token)
  // gets its 403 without the server spending time on its body, however large or hostile.
  mayApplySomething(principal);
  const documents = flatten(parseDocuments(req, deps.config.maxBodyBytes));
  if (documents.length === 0) throw new BadRequestError('the apply bundle holds no objects');

  const causes: StatusCause[] = [];
  const planned: Planned[] = [];
  const seen = new Set<string>();
  documents.forEach((doc, index) => {
    const p = identify(doc, index, causes);
    if (!p) return;
    const key = `${p.info.kind}/${p.ref.namespace ?? ''}/${p.ref.name}`;
    if (seen.has(key)) {
      causes.push(cause(p, 'metadata.name', 'the bundle already holds this object', 'FieldValueDuplicate'));
      return;
    }
    seen.add(key);
    planned.push(p);
  });

  // Authorization first: a caller learns nothing about objects it may not write.
  for (const p of planned) p.stored = await deps.store.get(p.ref);
  const denied: string[] = [];
  for (const p of planned) {
    const access: Access = {
      verb: p.stored ? 'update' : 'create',
      kind: p.info.kind,
      namespaced: p.info.namespaced,
      name: p.ref.name,
      ...(p.ref.namespace !== undefined ? { namespace: p.ref.namespace } : {}),
    };
    try {
      authorize(principal, access);
      if (p.stored) authorizeObject(principal, 'update', p.stored);
    } catch (err) {
      if (!(err instanceof ForbiddenError)) throw err;
      denied.push(`${label(p)}: ${err.message}`);
    }
  }
  if (denied.length > 0) {
    throw new ForbiddenError(`nothing was applied: ${denied.length} object(s) are forbidden: ${denied.join('; ')}`);
  }

  const bundledNamespaces = new Set(planned.filter((p) => p.info.kind === 'Namespace').map((p) => p.ref.name));
  const valid: Planned[] = [];
  for (const p of planned) {
    const { obj, causes: invalid } = defaultAndValidate(p.desired);
    p.desired = obj;
    if (invalid.length === 0) valid.push(p);
    for (const c of invalid) causes.push(cause(p, c.field, c.message, c.reason));
    if (p.stored && invalid.length === 0) {
      for (const c of immutableChanges(p.stored, mergeForApply(p.stored, p.desired, p.info)))
        causes.push(cause(p, c.field, c.message, c.reason));
    }
    const ns = p.ref.namespace;
    if (ns !== undefined && !bundledNamespaces.has(ns) && !(await deps.store.get({ kind: 'Namespace', name: ns }))) {
      causes.push(cause(p, 'metadata.namespace', `namespace "${ns}" does not exist`, 'FieldValueNotFound'));
    }
  }
  // Node ports only of valid objects: an invalid one already has its causes, and port handling
  // assumes the shape validation guarantees (a malformed `ports` was a 500 here).
  causes.push(...(await checkBundleNodePorts(deps, valid)));
  const warnings = causes.length === 0 ? await checkBundlePolicy(deps, principal, planned, causes) : [];
  if (causes.length > 0) {
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
    throw new FerryError(422, 'Invalid', `the apply bundle is invalid (nothing was applied): ${list}`, {
      group: FERRY_GROUP,
      kind: 'apply',
      causes,
    });
  }

  // Quota for the whole bundle at once: over quota anywhere writes nothing.
  await checkQuota(
    deps,
    planned.map((p) => ({ obj: p.stored ? mergeForApply(p.stored, p.desired, p.info) : p.desired, stored: p.stored })),
    { dryRun },
  );
  const items = dryRun ? planned.map(plan) : await commit(deps, planned);
  const response = jsonResponse(200, {
    apiVersion: `${FERRY_GROUP}/${FERRY_VERSION}`,
    kind: 'ApplyResult',
    dryRun,
    items,
  });
  return { ...response, headers: { ...response.headers, ...warningHeaders(warnings) } };
}

/**
 * Policy admission (policy.ts) for every object before the first write; a Namespace created by
 * the bundle gives the pod-security levels of the objects in it. Forbidden objects are reported
 * together, like authorization; returns the warnings for the response.
 */
async function checkBundlePolicy(
  deps: ApiDeps,
  principal: Principal,
  planned: Planned[],
  causes: StatusCause[],
): Promise<string[]> {
  const warnings: string[] = [];
  const denied: string[] = [];
  const bundled = new Map(planned.filter((p) => p.info.kind === 'Namespace').map((p) => [p.ref.name, p.desired]));
  const objects = planned.map((p) => p.desired);
  for (const p of planned) {
    const next = p.stored ? mergeForApply(p.stored, p.desired, p.info) : p.desired;
    const ns = p.ref.namespace !== undefined ? bundled.get(p.ref.namespace) : undefined;
    try {
      restrictNodeWrite(principal, deps.clock(), next, p.stored);
      const found = await admitPolicy(deps, principal, next, p.stored, {
        bundled: objects,
        ...(ns ? { policy: policyOf(ns.metadata.labels) } : {}),
      });
      warnings.push(...found.map((w) => `${label(p)}: ${w}`));
      // LimitRange defaults landed on `next`; for a create that is the object written.
      if (!p.stored) p.desired = next;
    } catch (err) {
      if (err instanceof InvalidError) {
        for (const c of err.details?.causes ?? []) causes.push(cause(p, c.field, c.message, c.reason));
        continue;
      }
      if (!(err instanceof ForbiddenError)) throw err;
      denied.push(`${label(p)}: ${err.message}`);
    }
  }
  if (denied.length > 0) {
    throw new ForbiddenError(`nothing was applied: ${denied.length} object(s) are forbidden: ${denied.join('; ')}`);
  }
  return warnings;
}

/**
 * 403 unless the principal may write some object: an admin, a deployer with a namespace, a pod's
 * ServiceAccount token (RBAC grants kinds). Each object of the bundle is checked once parsed.
 */
function mayApplySomething(principal: Principal): void {
  if (principal.role === 'serviceaccount') return;
  const namespace = principal.namespaces[0];
  try {
    authorize(principal, {
      verb: 'create',
      kind: 'ConfigMap',
      namespaced: true,
      ...(namespace !== undefined ? { namespace } : {}),
    });
  } catch (err) {
    if (!(err instanceof ForbiddenError)) throw err;
    throw new ForbiddenError(
      `token "${principal.name}" (role ${principal.role}) may not apply: it may write no object in any namespace`,
    );
  }
}

/** A JSON array or a v1 List contributes its items; YAML documents are objects already. */
function flatten(docs: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const doc of docs) {
    if (Array.isArray(doc)) out.push(...flatten(doc));
    else if (isRecord(doc) && doc.kind === 'List' && Array.isArray(doc.items)) out.push(...flatten(doc.items));
    else out.push(doc);
  }
  return out;
}

function identify(doc: unknown, index: number, causes: StatusCause[]): Planned | undefined {
  const bad = (field: string, message: string, reason = 'FieldValueInvalid') =>
    causes.push({ field: `[${index}]${field ? ` ${field}` : ''}`, message, reason });
  if (!isRecord(doc)) {
    bad('', 'each document must be an object');
    return undefined;
  }
  const info = kinds.find((k) => k.kind === doc.kind && k.apiVersion === doc.apiVersion);
  if (!info) {
    if (typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string') bad('', 'needs apiVersion and kind');
    else bad('kind', `no kind "${doc.kind}" is known in apiVersion "${doc.apiVersion}"`, 'FieldValueNotSupported');
    return undefined;
  }
  // null is unset, as in Kubernetes (schemas/nulls.ts); dropNulls returns a copy.
  const desired = dropNulls(doc) as unknown as Obj;
  if (!isRecord(desired.metadata)) {
    bad(`${info.kind}: metadata.name`, 'required', 'FieldValueRequired');
    return undefined;
  }
  const name = desired.metadata.name;
  if (typeof name !== 'string' || name === '') {
    bad(`${info.kind}: metadata.name`, 'required (apply does not support generateName)', 'FieldValueRequired');
    return undefined;
  }
  const ref: ObjectRef = { kind: info.kind, name };
  if (info.namespaced) {
    const ns = desired.metadata.namespace;
    desired.metadata.namespace = typeof ns === 'string' && ns !== '' ? ns : 'default';
    ref.namespace = desired.metadata.namespace;
  } else if (desired.metadata.namespace !== undefined && desired.metadata.namespace !== '') {
    bad(`${info.kind} ${name}: metadata.namespace`, `${info.kind} is cluster-scoped and takes no namespace`);
    return undefined;
  } else delete desired.metadata.namespace;
  stripServerMetadata(desired);
  if (hasStatusSubresource(info)) delete desired.status;
  return { index, info, ref, desired, stored: undefined };
}

function label(p: Planned): string {
  return `[${p.index}] ${p.info.kind} ${p.ref.namespace ? `${p.ref.namespace}/` : ''}${p.ref.name}`;
}

function cause(p: Planned, field: string | undefined, message: string, reason: string): StatusCause {
  return { field: `${label(p)}${field ? `: ${field}` : ''}`, message, reason };
}

/** What the object would become, and how that differs from what is stored. */
function plan(p: Planned): ApplyItem {
  const next = p.stored ? mergeForApply(p.stored, p.desired, p.info) : structuredClone(p.desired);
  const before = p.stored ? comparable(p.stored) : undefined;
  const after = comparable(next);
  const action: ApplyAction = !p.stored
    ? 'created'
    : JSON.stringify(before) === JSON.stringify(after)
      ? 'unchanged'
      : 'configured';
  const item: ApplyItem = {
    apiVersion: p.info.apiVersion,
    kind: p.info.kind,
    ...(p.ref.namespace !== undefined ? { namespace: p.ref.namespace } : {}),
    name: p.ref.name,
    action,
    object: next,
  };
  if (action !== 'unchanged') {
    const path = `${resourceLabel(p.info)}/${p.ref.namespace ? `${p.ref.namespace}/` : ''}${p.ref.name}`;
    item.diff = unifiedDiff(before ? stringify(before) : '', stringify(after), `live/${path}`, `desired/${path}`);
  }
  return item;
}

/**
 * Writes the bundle in one transaction. Someone writing one of its objects (or claiming a port it
 * picked) meanwhile fails the whole commit: apply is declarative, so it re-plans on what is
 * stored now and tries again.
 */
async function commit(deps: ApiDeps, planned: Planned[]): Promise<ApplyItem[]> {
  return retryOnConflict(
    async (_current, attempt) => {
      // The lost race may have been on any of the bundle's objects or on a port claim: read all again.
      if (attempt > 1) for (const p of planned) p.stored = await deps.store.get(p.ref);
      const items = planned.map(plan);
      const changed = items.filter((item) => item.action !== 'unchanged');
      const stored = await commitBundle(
        deps,
        nodePortRange(deps),
        changed.map((item) => ({ object: item.object, stored: planned[items.indexOf(item)]?.stored })),
      );
      changed.forEach((item, i) => {
        item.object = stored[i] as Obj;
      });
      return items;
    },
    { attempts: WRITE_ATTEMPTS, retryIf: isConflictOrExists },
  );
}

/**
 * The manifest over what is stored: the manifest's spec, labels and annotations (replacing the
 * stored ones); the stored status and server-set metadata; metadata the manifest does not mention
 * (ownerReferences, finalizers) and values the server allocated (a Service's cluster IP and node
 * ports) stay as stored.
 */
export function mergeForApply(stored: Obj, desired: Obj, info: KindInfo): Obj {
  const next = structuredClone(desired);
  const meta = next.metadata as unknown as Record<string, unknown>;
  const old = stored.metadata as unknown as Record<string, unknown>;
  for (const f of SERVER_METADATA) if (old[f] !== undefined) meta[f] = old[f];
  for (const f of ['ownerReferences', 'finalizers'])
    if (meta[f] === undefined && old[f] !== undefined) meta[f] = old[f];
  if (hasStatusSubresource(info)) {
    if (stored.status === undefined) delete next.status;
    else next.status = structuredClone(stored.status);
  }
  if (info.kind === 'Service') keepAllocated(stored, next);
  if (info.kind === 'Pod') keepServerPodFields(stored, next);
  return next;
}

/** Cluster IPs and node ports the bundle chooses: in range, free, not chosen twice; before any write. */
async function checkBundleNodePorts(deps: ApiDeps, planned: Planned[]): Promise<StatusCause[]> {
  const causes: StatusCause[] = [];
  const chosen = new Map<number, Planned>();
  const chosenIPs = new Map<string, string>();
  for (const p of planned) {
    if (p.info.kind !== 'Service') continue;
    const next = p.stored ? mergeForApply(p.stored, p.desired, p.info) : p.desired;
    const prefix = `${label(p)}: `;
    causes.push(...(await clusterIPProblems(deps, next, serviceRange(deps), prefix, chosenIPs, label(p))));
    causes.push(...(await nodePortProblems(deps, next, nodePortRange(deps), prefix)));
    const ports = (next.spec as { ports?: { nodePort?: number }[] } | undefined)?.ports ?? [];
    for (const [i, port] of ports.entries()) {
      if (!port.nodePort) continue;
      const other = chosen.get(port.nodePort);
      if (other && other !== p) {
        causes.push(
          cause(
            p,
            `spec.ports[${i}].nodePort`,
            `${port.nodePort} is also chosen by ${label(other)}`,
            'FieldValueDuplicate',
          ),
        );
      }
      chosen.set(port.nodePort, p);
    }
  }
  return causes;
}

/** The part of an object apply owns and compares: no status, no server-set metadata. */
function comparable(obj: Obj): Obj {
  const { status: _status, ...rest } = structuredClone(obj);
  return stripServerMetadata(rest as Obj);
}
