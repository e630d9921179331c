/** Gives every node of the pool the pool's taints (added, never removed: a user may add more). */
import type { Taint } from '../../../schemas';
import { isLostRace } from '../../errors';
import type { PoolPass } from './context';

export async function ensureTaints(pass: PoolPass): Promise<void> {
  const taints: Taint[] = pass.pool.spec.taints ?? [];
  if (taints.length === 0) return;
  for (const node of pass.nodes.values()) {
    const have = node.spec?.taints ?? [];
    const missing = taints.filter((t) => !have.some((h) => h.key === t.key && h.effect === t.effect));
    if (missing.length === 0) continue;
    try {
      await pass.deps.store.update({ ...node, spec: { ...node.spec, taints: [...have, ...missing] } });
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
  }
}
