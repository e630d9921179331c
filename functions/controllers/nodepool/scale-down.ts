/**
 * Chooses what to retire, `spec.maxUnavailable` at a time (retiring machines count against it):
 * surplus machines in the pool's Cloud, and machines in Clouds the pool has left. A move is
 * surge-first: an old Ready node leaves only while the Ready nodes left (in every Cloud) still
 * cover the desired count, so new nodes replace old ones one for one, within `maxSurge`.
 */
import { resolveIntOrPercent } from '../util';
import { currentMachines, isNodeReady, isRetiring, type Machine, type PoolPass, present } from './context';
import { startRetiring } from './retire';

export async function scaleDown(pass: PoolPass): Promise<void> {
  if (pass.ambiguous) return;
  const here = pass.cloud.metadata.name;
  const machines = present(pass);
  const budget = Math.max(1, resolveIntOrPercent(pass.pool.spec.maxUnavailable ?? 1, pass.desired, false));
  let allowance = Math.max(0, budget - machines.filter(isRetiring).length);
  const current = currentMachines(pass);
  if (current.length > pass.desired) {
    for (const m of byValue(current).slice(0, Math.min(allowance, current.length - pass.desired))) {
      await startRetiring(pass, m, 'ScaleDown');
      allowance--;
    }
  }
  let ready = machines.filter((m) => !isRetiring(m) && isNodeReady(m.node)).length;
  const old = machines.filter((m) => m.cloud !== here && !isRetiring(m));
  for (const m of byValue(old)) {
    if (allowance <= 0) break;
    const serving = isNodeReady(m.node);
    if (serving && ready - 1 < pass.desired) break;
    await startRetiring(pass, m, 'MovedCloud');
    allowance--;
    if (serving) ready--;
  }
}

/** Least valuable first: no registered node, then NotReady, then the newest. */
function byValue(machines: Machine[]): Machine[] {
  const rank = (m: Machine) => (!m.node ? 0 : isNodeReady(m.node) ? 2 : 1);
  return [...machines].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      String(b.node?.metadata.creationTimestamp ?? '').localeCompare(String(a.node?.metadata.creationTimestamp ?? '')),
  );
}
