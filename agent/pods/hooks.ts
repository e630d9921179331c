/**
 * Container lifecycle hooks, as the kubelet runs them (pkg/kubelet/lifecycle/handlers.go):
 * postStart right after the container starts (a failure kills the container, which then restarts
 * by its restart policy, reason FailedPostStartHook); preStop before the SIGTERM, inside the
 * termination grace period (its time is taken from the grace; the container is stopped anyway
 * when it fails or runs out of time). Handlers: exec, httpGet, tcpSocket, sleep.
 * https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/
 */
import type { Container } from '../../schemas/pod';
import { type ProbeResult, type ProbeTarget, runHandler } from '../probes';

type Handler = NonNullable<NonNullable<Container['lifecycle']>['preStop']>;

/** Runs a hook handler within `timeoutMs`. */
export async function runHook(handler: Handler, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(handler.sleep?.seconds ?? 0, timeoutMs / 1000) * 1000));
    return { ok: true };
  }
  return runHandler(handler, target, timeoutMs);
}

/**
 * The preStop hook, if any, within the grace period; resolves to the grace left for the SIGTERM
 * (the kubelet gives at least 2 s more when the hook used it all up).
 */
export async function runPreStop(spec: Container, target: ProbeTarget, graceSeconds: number): Promise<number> {
  const hook = spec.lifecycle?.preStop;
  if (!hook || graceSeconds <= 0) return graceSeconds;
  const started = Date.now();
  await runHook(hook, target, graceSeconds * 1000);
  const left = graceSeconds - (Date.now() - started) / 1000;
  return left > 0 ? left : 2;
}
