/**
 * `null` read as unset, as Kubernetes' API server reads it: its Go types decode a JSON null into
 * the field's zero value, so `data: null` in a ConfigMap or `creationTimestamp: null` in a pod
 * template (what `kubectl create deployment --dry-run=client -o yaml` prints, and what
 * `kubectl rollout undo` sends) mean "not set". Object properties whose value is null are dropped
 * before defaulting and validation; nulls inside arrays stay, and validation names them. Patch
 * bodies are not passed here: in a merge patch, null means "delete this field".
 */
import { isRec } from './tree';

/** `value` without null-valued object properties, at any depth; returns a new value. */
export function dropNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => dropNulls(v)) as T;
  if (!isRec(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
  return out as T;
}
