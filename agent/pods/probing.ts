/**
 * The probes of one running container, as the kubelet's prober manager runs them: the startup
 * probe first (liveness and readiness wait until it passes; failureThreshold failures kill the
 * container), then liveness (failures kill it) and readiness (the Ready condition). A kill is not
 * done here: the probe marks the container unhealthy and computePodActions decides, with the
 * probe's own terminationGracePeriodSeconds when it sets one.
 */
import type { Container } from '../../schemas/pod';
import { noteProbe } from '../metrics-endpoint-state';
import { type ProbeResult, type ProbeSpec, ProbeState, type ProbeTarget, runProbe } from '../probes';
import type { ContainerRecord } from './record';

export async function probeContainer(
  c: ContainerRecord,
  spec: Container,
  target: ProbeTarget,
  now: number,
  podGraceSeconds: number,
): Promise<void> {
  const startedAt = c.startedAtMs ?? now;
  if (spec.startupProbe && !c.started) {
    c.startup ??= new ProbeState(spec.startupProbe, false);
    c.ready = false;
    if (c.startup.due(now, startedAt))
      c.startup.record(now, counted('Startup', await runProbe(c.startup.spec, target)));
    if (c.startup.passing) c.started = true;
    else if (c.startup.failed) c.unhealthy = unhealthy('Startup', c.startup, podGraceSeconds);
    if (!c.started) return;
  }
  c.started = true;
  if (spec.livenessProbe) {
    c.liveness ??= new ProbeState(spec.livenessProbe, true);
    if (c.liveness.due(now, startedAt)) {
      c.liveness.record(now, counted('Liveness', await runProbe(c.liveness.spec, target)));
      if (!c.liveness.passing) {
        c.unhealthy = unhealthy('Liveness', c.liveness, podGraceSeconds);
        c.ready = false;
        return;
      }
    }
  }
  if (spec.readinessProbe) {
    c.readiness ??= new ProbeState(spec.readinessProbe, false);
    if (c.readiness.due(now, startedAt))
      c.readiness.record(now, counted('Readiness', await runProbe(c.readiness.spec, target)));
    c.ready = c.readiness.passing;
  } else {
    c.ready = true;
  }
}

/** Fresh probe state for a new instance (readiness starts failing, liveness passing). */
export function resetProbes(c: ContainerRecord, spec: Container): void {
  c.startup = spec.startupProbe ? new ProbeState(spec.startupProbe, false) : undefined;
  c.liveness = spec.livenessProbe ? new ProbeState(spec.livenessProbe, true) : undefined;
  c.readiness = spec.readinessProbe ? new ProbeState(spec.readinessProbe, false) : undefined;
  c.started = !spec.startupProbe;
  c.ready = !spec.readinessProbe && !spec.startupProbe;
  c.unhealthy = undefined;
}

/** The agent's /metrics counts every probe run (prober_probe_total). */
function counted(kind: 'Liveness' | 'Readiness' | 'Startup', result: ProbeResult): ProbeResult {
  noteProbe(kind, result.ok);
  return result;
}

function unhealthy(kind: string, state: ProbeState, podGraceSeconds: number) {
  const spec: ProbeSpec = state.spec;
  return {
    reason: 'Unhealthy',
    message: `${kind} probe failed: ${state.lastMessage}`,
    graceSeconds: spec.terminationGracePeriodSeconds ?? podGraceSeconds,
  };
}
