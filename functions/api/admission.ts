/**
 * What every write goes through before it reaches the store, shared by the resource routes and
 * apply: the object's identity must match where it is written, server-owned metadata is dropped,
 * Kubernetes defaults are applied and the schema validates the result (every violation, with its
 * field path). Nothing here writes.
 */
import { applyDefaults, dropNulls, type KindInfo, updateProblems, validate } from '../../schemas';
import { BadRequestError, InvalidError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';

/** metadata fields the server owns: a client's values are ignored on create. */
/**
 * A Pod's spec fields the server sets: the scheduler's binding and the priority resolved from the
 * PriorityClass (functions/admission/priority.ts). Like a Service's node ports, a manifest applied
 * again that leaves them out keeps them (a Pod's spec is immutable but for its images).
 */
const SERVER_POD_FIELDS = ['nodeName', 'priorityClassName', 'priority', 'preemptionPolicy'];

export function keepServerPodFields(stored: Obj, next: Obj): void {
  const was = stored.spec as Record<string, unknown> | undefined;
  const now = next.spec as Record<string, unknown> | undefined;
  if (!now) return;
  for (const f of SERVER_POD_FIELDS) if (now[f] === undefined && was?.[f] !== undefined) now[f] = was[f];
}

export const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
] as const;

/** `pods`, `deployments.apps`: the resource name Kubernetes uses in messages. */
export function resourceLabel(info: KindInfo): string {
  return info.group ? `${info.plural}.${info.group}` : info.plural;
}

export function hasStatusSubresource(info: KindInfo): boolean {
  return (info.subresources as readonly string[]).includes('status');
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a request body is an object of the route's kind (filling in a missing apiVersion/kind,
 * as kubectl always sends them) and returns it typed. 400 when it names another kind.
 */
export function asObjectOf(input: unknown, info: KindInfo): Obj {
  if (!isRecord(input)) throw new BadRequestError(`the request body must be a ${info.kind} object`);
  // null is unset, as in Kubernetes (schemas/nulls.ts).
  const body = dropNulls(input);
  const apiVersion = body.apiVersion ?? info.apiVersion;
  const kind = body.kind ?? info.kind;
  if (apiVersion !== info.apiVersion || kind !== info.kind) {
    throw new BadRequestError(
      `the object is a ${String(kind)} of ${String(apiVersion)}, but this path serves ${info.kind} of ${info.apiVersion}`,
    );
  }
  const metadata = body.metadata ?? {};
  if (!isRecord(metadata)) {
    throw new InvalidError(info.kind, '', [
      { field: 'metadata', message: 'must be an object', reason: 'FieldValueInvalid' },
    ]);
  }
  return { ...body, apiVersion: info.apiVersion, kind: info.kind, metadata } as unknown as Obj;
}

/**
 * Name and namespace of the body must agree with the URL (Kubernetes answers 400 as well);
 * a missing namespace is taken from the URL.
 */
export function checkPlacement(obj: Obj, info: KindInfo, namespace: string | undefined, name?: string): void {
  const meta = obj.metadata;
  if (info.namespaced) {
    if (meta.namespace === undefined || meta.namespace === '') meta.namespace = namespace;
    else if (meta.namespace !== namespace) {
      throw new BadRequestError(
        `the namespace of the object (${JSON.stringify(meta.namespace)}) does not match the namespace on the URL (${JSON.stringify(namespace)})`,
      );
    }
  } else if (meta.namespace !== undefined && meta.namespace !== '') {
    throw new BadRequestError(`${info.kind} is cluster-scoped: the object may not name a namespace`);
  } else delete meta.namespace;
  if (name !== undefined && meta.name !== name) {
    throw new BadRequestError(
      `the name of the object (${JSON.stringify(meta.name ?? '')}) does not match the name on the URL (${JSON.stringify(name)})`,
    );
  }
}

export function stripServerMetadata(obj: Obj): Obj {
  for (const f of SERVER_METADATA) delete (obj.metadata as unknown as Record<string, unknown>)[f];
  return obj;
}

/** Defaults then validation; the defaulted object and every cause (empty = valid). */
export function defaultAndValidate(obj: Obj): { obj: Obj; causes: StatusCause[] } {
  let defaulted: Obj;
  try {
    defaulted = applyDefaults(obj);
  } catch {
    // Defaulting assumes the shape is roughly right; when it is not, validation says why.
    return { obj, causes: nonEmpty(validate(obj), obj) };
  }
  return { obj: defaulted, causes: validate(defaulted) };
}

/** Like defaultAndValidate but throws InvalidError (422) listing every cause. */
export function admit(obj: Obj): Obj {
  const { obj: out, causes } = defaultAndValidate(obj);
  if (causes.length > 0) throw new InvalidError(obj.kind, String(obj.metadata?.name ?? ''), causes);
  return out;
}

/** Validates an object whose defaults are already applied (status writes, patched objects). */
export function validateOnly(obj: Obj): void {
  const causes = validate(obj);
  if (causes.length > 0) throw new InvalidError(obj.kind, String(obj.metadata?.name ?? ''), causes);
}

function nonEmpty(causes: StatusCause[], obj: Obj): StatusCause[] {
  return causes.length > 0 ? causes : [{ message: `${obj.kind} could not be defaulted`, reason: 'FieldValueInvalid' }];
}

/**
 * Fields that may not change once set, as Kubernetes' update validation has them (Deployment,
 * ReplicaSet and Job selectors, a Job's template, a Pod's spec but for the image and the few
 * fields Kubernetes lets change): schemas/rules/immutable.ts. Each change is one cause.
 */
export function immutableChanges(stored: Obj, next: Obj): StatusCause[] {
  return updateProblems(stored as unknown as Record<string, unknown>, next as unknown as Record<string, unknown>);
}
