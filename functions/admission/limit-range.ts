/**
 * LimitRange admission for pods, after Kubernetes' LimitRanger plugin
 * (plugin/pkg/admission/limitranger): a container without a request or limit for cpu/memory gets
 * the namespace's `defaultRequest`/`default`, then every container (type Container) and the pod as
 * a whole (type Pod) must stay within `min`, `max` and `maxLimitRequestRatio`. A pod outside them
 * is refused with Kubernetes' 403 (`maximum cpu usage per Container is 1, but limit is 2`).
 * LimitRange's own defaulting (a Container item's `default` falls back to its `max`, and
 * `defaultRequest` to `default`, then `min`) happens when it is stored (schemas/defaults.ts).
 */
import { defaultLimitRangeItem, type LimitRange, type LimitRangeItem } from '../../schemas/policy';
import { isQuantity, parseQuantity } from '../../schemas/quantity';
import type { Deps } from '../deps';
import { ForbiddenError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';
import { formatAmount, quantity } from './quota/usage';

/** The resources a LimitRange may bound in ferry (what the scheduler and the agent act on). */
export const LIMITED_RESOURCES = ['cpu', 'memory'] as const;

type List = Record<string, string | number>;

interface ContainerLike {
  name?: string;
  resources?: { requests?: List; limits?: List };
}

/** Applies the namespace's LimitRanges to a pod (in place) and refuses it when outside them. */
export async function applyLimitRanges(deps: Deps, pod: Obj): Promise<void> {
  if (pod.kind !== 'Pod' || pod.metadata.namespace === undefined) return;
  const { items } = await deps.store.list<LimitRange>('LimitRange', { namespace: pod.metadata.namespace });
  if (items.length === 0) return;
  const spec = (pod.spec ?? {}) as { containers?: ContainerLike[]; initContainers?: ContainerLike[] };
  const all = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const problems: string[] = [];
  for (const range of items) {
    for (const item of range.spec.limits.map(withDefaults)) {
      if (item.type === 'Container') {
        for (const c of all) defaultContainer(c, item);
        for (const c of all) problems.push(...containerProblems(c, item));
      } else problems.push(...podProblems(spec, item));
    }
  }
  if (problems.length > 0) {
    throw new ForbiddenError(`pods "${pod.metadata.name}" is forbidden: [${[...new Set(problems)].join(', ')}]`);
  }
}

/** Objects stored before defaulting existed are defaulted as they are read. */
function withDefaults(item: LimitRangeItem): LimitRangeItem {
  return defaultLimitRangeItem(structuredClone(item));
}

function defaultContainer(c: ContainerLike, item: LimitRangeItem): void {
  for (const r of LIMITED_RESOURCES) {
    const limit = item.default?.[r];
    const request = item.defaultRequest?.[r];
    if (limit !== undefined && c.resources?.limits?.[r] === undefined) {
      c.resources ??= {};
      c.resources.limits = { ...c.resources.limits, [r]: limit };
    }
    if (request !== undefined && c.resources?.requests?.[r] === undefined) {
      c.resources ??= {};
      c.resources.requests = { ...c.resources.requests, [r]: request };
    }
  }
}

function containerProblems(c: ContainerLike, item: LimitRangeItem): string[] {
  return bounds('Container', c.resources?.requests ?? {}, c.resources?.limits ?? {}, item);
}

function podProblems(spec: { containers?: ContainerLike[] }, item: LimitRangeItem): string[] {
  const sum = (list: 'requests' | 'limits') => {
    const out: Record<string, number> = {};
    for (const r of LIMITED_RESOURCES) {
      const values = (spec.containers ?? []).map((c) => c.resources?.[list]?.[r]);
      // A pod's total is defined only when every container states the value.
      if (values.every((v) => v !== undefined)) out[r] = values.reduce((a: number, v) => a + quantity(v, r), 0);
    }
    return out;
  };
  return boundsIn('Pod', sum('requests'), sum('limits'), item);
}

function bounds(scope: string, requests: List, limits: List, item: LimitRangeItem): string[] {
  const num = (l: List) =>
    Object.fromEntries(LIMITED_RESOURCES.filter((r) => l[r] !== undefined).map((r) => [r, quantity(l[r], r)]));
  return boundsIn(scope, num(requests), num(limits), item);
}

/** Kubernetes' messages, word for word (limitranger.go: minConstraint, maxConstraint, limitRequestRatioConstraint). */
function boundsIn(
  scope: string,
  requests: Record<string, number>,
  limits: Record<string, number>,
  item: LimitRangeItem,
): string[] {
  const out: string[] = [];
  const show = (n: number, r: string) => formatAmount(n, r);
  for (const r of LIMITED_RESOURCES) {
    const min = item.min?.[r];
    if (min !== undefined) {
      const m = quantity(min, r);
      if (requests[r] === undefined) out.push(`minimum ${r} usage per ${scope} is ${min}.  No request is specified`);
      else if (requests[r] < m)
        out.push(`minimum ${r} usage per ${scope} is ${min}, but request is ${show(requests[r], r)}`);
      else if (limits[r] !== undefined && limits[r] < m)
        out.push(`minimum ${r} usage per ${scope} is ${min}, but limit is ${show(limits[r], r)}`);
    }
    const max = item.max?.[r];
    if (max !== undefined) {
      const m = quantity(max, r);
      if (limits[r] === undefined) out.push(`maximum ${r} usage per ${scope} is ${max}.  No limit is specified`);
      else if (limits[r] > m) out.push(`maximum ${r} usage per ${scope} is ${max}, but limit is ${show(limits[r], r)}`);
      else if (requests[r] !== undefined && requests[r] > m)
        out.push(`maximum ${r} usage per ${scope} is ${max}, but request is ${show(requests[r], r)}`);
    }
    const ratio = item.maxLimitRequestRatio?.[r];
    if (ratio !== undefined && limits[r] !== undefined && requests[r] !== undefined && requests[r] > 0) {
      const actual = limits[r] / requests[r];
      const bound = quantity(ratio, 'ratio');
      if (actual > bound)
        out.push(
          `${r} max limit to request ratio per ${scope} is ${ratio}, but provided ratio is ${actual.toFixed(6)}`,
        );
    }
  }
  return out;
}

/** 422 causes for a LimitRange ferry could not honour (resources other than cpu/memory, bad quantities, min > max). */
export function limitRangeProblems(obj: Obj): StatusCause[] {
  const causes: StatusCause[] = [];
  const limits = ((obj.spec ?? {}) as { limits?: LimitRangeItem[] }).limits ?? [];
  limits.forEach((item, i) => {
    for (const field of ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const) {
      for (const [r, v] of Object.entries(item[field] ?? {})) {
        const at = `spec.limits[${i}].${field}[${r}]`;
        if (!(LIMITED_RESOURCES as readonly string[]).includes(r))
          causes.push({
            field: at,
            reason: 'FieldValueNotSupported',
            message: `Unsupported value: "${r}": ferry limits only cpu and memory`,
          });
        else if (!validAmount(v))
          causes.push({
            field: at,
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${JSON.stringify(v)}: must be a non-negative quantity such as 500m, 1, 128Mi`,
          });
      }
    }
    if (item.type === 'Pod' && (item.default || item.defaultRequest))
      causes.push({
        field: `spec.limits[${i}]`,
        reason: 'FieldValueForbidden',
        message: 'default and defaultRequest apply to type Container only',
      });
    for (const r of LIMITED_RESOURCES) {
      const min = item.min?.[r];
      const max = item.max?.[r];
      if (
        min !== undefined &&
        max !== undefined &&
        validAmount(min) &&
        validAmount(max) &&
        quantity(min, r) > quantity(max, r)
      )
        causes.push({
          field: `spec.limits[${i}].min[${r}]`,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(min)}: min value ${min} is greater than max value ${max}`,
        });
    }
  });
  return causes;
}

/** A quantity a bound can be: well-formed, finite and not negative. */
export function validAmount(v: unknown): boolean {
  if (!isQuantity(v)) return false;
  const n = parseQuantity(v as string | number);
  return Number.isFinite(n) && n >= 0;
}
