/** Whether a toleration lets a pod onto a node with a taint (core/v1 Toleration.ToleratesTaint). */
import type { Taint, Toleration } from '../../schemas';

export function tolerates(tol: Toleration, taint: Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.operator === 'Exists') return !tol.key || tol.key === taint.key;
  return tol.key === taint.key && (tol.value ?? '') === (taint.value ?? '');
}
