/**
 * v1 ResourceQuota and LimitRange: per-namespace bounds on what tenants may use
 * (https://kubernetes.io/docs/concepts/policy/resource-quotas/, .../limit-range/). The resource
 * names a quota may bound are checked at admission (functions/admission/quota), which also keeps
 * `status.used`; quota scopes are not supported, so the schema has no `scopes`/`scopeSelector`
 * (a manifest using them is refused with the field named, never stored and ignored).
 */
import { type Static, Type } from 'typebox';
import { Enum, Obj, Opt, ResourceList } from './dsl';
import { envelope, type Kind } from './meta';

export const ResourceQuotaSchema = Obj({
  ...envelope('v1', 'ResourceQuota'),
  spec: Opt(Obj({ hard: Opt(ResourceList()) })),
  status: Opt(Obj({ hard: Opt(ResourceList()), used: Opt(ResourceList()) })),
});

export const LimitRangeItemSchema = Obj({
  type: Enum(['Container', 'Pod'] as const),
  max: Opt(ResourceList()),
  min: Opt(ResourceList()),
  default: Opt(ResourceList()),
  defaultRequest: Opt(ResourceList()),
  maxLimitRequestRatio: Opt(ResourceList()),
});

export const LimitRangeSchema = Obj({
  ...envelope('v1', 'LimitRange'),
  spec: Obj({ limits: Type.Array(LimitRangeItemSchema) }),
});

export type ResourceQuota = Kind<Static<typeof ResourceQuotaSchema>>;
export type LimitRangeItem = Static<typeof LimitRangeItemSchema>;
export type LimitRange = Kind<Static<typeof LimitRangeSchema>>;

/**
 * Kubernetes' LimitRangeItem defaulting (pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem),
 * in place: for type Container, `default` falls back to `max`, and `defaultRequest` to `default`,
 * then to `min`.
 */
export function defaultLimitRangeItem(item: LimitRangeItem): LimitRangeItem {
  if (item.type !== 'Container') return item;
  for (const [r, v] of Object.entries(item.max ?? {})) {
    item.default ??= {};
    item.default[r] ??= v;
  }
  for (const [r, v] of Object.entries(item.default ?? {})) {
    item.defaultRequest ??= {};
    item.defaultRequest[r] ??= v;
  }
  for (const [r, v] of Object.entries(item.min ?? {})) {
    item.defaultRequest ??= {};
    item.defaultRequest[r] ??= v;
  }
  return item;
}
