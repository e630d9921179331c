/**
 * Before a terminating pod gets SIGTERM: wait until this node's proxy no longer routes to it,
 * then a little longer for the other nodes' proxies, so no request is sent to a dying pod. The
 * endpoints controller drops the pod as soon as it is marked for deletion; this only waits for
 * that to reach the proxies. Bounded by `timeoutMs` and half the pod's grace period.
 */
export interface DrainOptions {
  nodeIp: string;
  routesTo?: (ip: string, port: number) => boolean;
  timeoutMs?: number;
  settleMs?: number;
}

/** Resolves to the ms waited. */
export async function drain(hostPorts: number[], graceSeconds: number, o: DrainOptions): Promise<number> {
  const routesTo = o.routesTo;
  const ports = hostPorts.filter((p) => p > 0);
  if (!routesTo || ports.length === 0 || graceSeconds <= 0) return 0;
  const started = Date.now();
  const limit = Math.min(o.timeoutMs ?? 5000, graceSeconds * 500);
  const routed = () => ports.some((p) => routesTo(o.nodeIp, p));
  while (routed() && Date.now() - started < limit) await new Promise((r) => setTimeout(r, 100));
  const settle = Math.min(o.settleMs ?? 1000, Math.max(0, limit - (Date.now() - started)));
  await new Promise((r) => setTimeout(r, settle));
  return Date.now() - started;
}
