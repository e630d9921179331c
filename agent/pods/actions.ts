/**
 * What next for a pod: the kubelet's `computePodActions` (pkg/kubelet/kuberuntime/
 * kuberuntime_manager.go) as a pure function of the pod's spec and what the runtime shows, so
 * every restart, back-off and init-order path is testable without Docker. `executor.ts` carries
 * the actions out, in the order given.
 *
 * Order, as in Kubernetes: exited instances are reaped (restart or not, and the back-off); a
 * running instance whose definition changed, or whose probe or postStart hook failed, is killed
 * (and, for a changed definition, restarted at once regardless of the restart policy). Then the
 * sandbox; then the init containers one at a time, each to success (a native sidecar,
 * `restartPolicy: Always`, needs only to have started, and keeps running); then every app
 * container. When every app container has exited for good the sidecars are stopped, last first,
 * and the pod is finished.
 * https://kubernetes.io/docs/concepts/workloads/pods/init-containers/
 * https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
 */
import type { Pod } from '../../schemas/pod';
import type { AnyContainer } from './record';
import { type RestartPolicy, restartDelayMs, shouldRestart } from './restart';

/** What the pod manager knows of one container at the start of a pass. */
export interface ObservedContainer {
  /** The current instance, if the runtime has one (inspected this pass). */
  instance?: { running: boolean; specHash: string; exitCode: number; ranForMs: number };
  /** The running instance must go: a liveness or startup probe or the postStart hook failed. */
  unhealthy?: { reason: string; message: string; graceSeconds?: number };
  /** Running, and past its startup probe if it has one. */
  started: boolean;
  /** Exited for good, or (an init container) succeeded. */
  done: boolean;
  /** The last instance exited 0 (what an init container must do). */
  succeeded: boolean;
  /** Ran before (a restart count or a last state): a pod whose app containers ran is initialized. */
  ranBefore: boolean;
  nextStartAt: number;
  consecutiveFailures: number;
}

export interface ObservedPod {
  sandbox: boolean;
  containers: ReadonlyMap<string, ObservedContainer>;
  /** The hash of each container's spec as it is now (compared with the instance's). */
  specHash: (c: AnyContainer) => string;
  now: number;
  backoffBaseMs?: number;
  /** The pod ran longer than its activeDeadlineSeconds: everything stops and the pod fails. */
  deadlineExceeded?: boolean;
  /** The pod is evicted (a disk emptyDir over its sizeLimit): everything stops at once and the pod fails. */
  evicted?: string;
}

export type PodAction =
  | { type: 'createSandbox' }
  | { type: 'kill'; container: string; reason: string; message: string; graceSeconds?: number }
  /** Record an instance's end and remove it; `restart` after `delayMs`, else it is done. */
  | { type: 'reap'; container: string; exitCode: number; restart: boolean; delayMs: number; failures: number }
  | { type: 'start'; container: string }
  | { type: 'backOff'; container: string }
  /** Every app container is done (`failed`: one failed, or an init container failed for good). */
  | { type: 'finish'; failed: boolean };

const BACKOFF_RESET_MS = 10 * 60_000;
/** The exit code a killed container reports (SIGKILL). */
const KILLED = 137;

export const isSidecar = (c: AnyContainer) => c.restartPolicy === 'Always';

export function computePodActions(spec: Pod['spec'], observed: ObservedPod): PodAction[] {
  const actions: PodAction[] = [];
  const policy: RestartPolicy = spec.restartPolicy ?? 'Always';
  const inits = (spec.initContainers ?? []) as AnyContainer[];
  const apps = spec.containers as AnyContainer[];
  const init = new Set(inits.map((c) => c.name));
  const state = new Map<string, ObservedContainer>();
  for (const c of [...inits, ...apps]) state.set(c.name, { ...fresh(), ...observed.containers.get(c.name) });
  const st = (c: AnyContainer) => state.get(c.name) as ObservedContainer;
  const running = (c: AnyContainer) => st(c).instance?.running === true;

  if (observed.deadlineExceeded || observed.evicted) {
    const [reason, message] = observed.deadlineExceeded
      ? ['DeadlineExceeded', 'Pod was active on the node longer than the specified deadline']
      : ['Evicted', observed.evicted as string];
    const grace = observed.deadlineExceeded ? {} : { graceSeconds: 0 };
    const kills: PodAction[] = [...apps, ...[...inits].reverse()]
      .filter(running)
      .map((c) => ({ type: 'kill', container: c.name, reason, message, ...grace }));
    return [...kills, { type: 'finish', failed: true }];
  }

  // 1. Instances that exited, or must be killed.
  for (const c of [...inits, ...apps]) {
    const s = st(c);
    const inst = s.instance;
    if (!inst) continue;
    let exitCode = inst.exitCode;
    if (inst.running) {
      if (inst.specHash !== observed.specHash(c)) {
        // "Container X definition changed, will be restarted", whatever the restart policy.
        actions.push({
          type: 'kill',
          container: c.name,
          reason: 'SpecChanged',
          message: `Container ${c.name} definition changed, will be restarted`,
        });
        actions.push({
          type: 'reap',
          container: c.name,
          exitCode: KILLED,
          restart: true,
          delayMs: 0,
          failures: s.consecutiveFailures,
        });
        state.set(c.name, { ...s, instance: undefined, started: false, done: false, nextStartAt: 0 });
        continue;
      }
      if (!s.unhealthy) continue;
      actions.push({ type: 'kill', container: c.name, ...s.unhealthy });
      exitCode = KILLED;
    }
    const exit = { exitCode, ranForMs: inst.ranForMs };
    const sidecar = isSidecar(c);
    const restart = sidecar
      ? true
      : init.has(c.name)
        ? exitCode !== 0 && policy !== 'Never'
        : shouldRestart(policy, exit);
    const failures = exit.ranForMs >= BACKOFF_RESET_MS ? 1 : s.consecutiveFailures + 1;
    const delayMs = restart ? restartDelayMs(failures, exit, observed.backoffBaseMs) : 0;
    actions.push({
      type: 'reap',
      container: c.name,
      exitCode,
      restart,
      delayMs,
      failures: restart ? failures : s.consecutiveFailures,
    });
    state.set(c.name, {
      ...s,
      instance: undefined,
      started: false,
      done: !restart,
      succeeded: exitCode === 0,
      ranBefore: true,
      nextStartAt: observed.now + delayMs,
      consecutiveFailures: restart ? failures : s.consecutiveFailures,
    });
  }

  // 2. The sandbox, which every container joins.
  if (!observed.sandbox) actions.push({ type: 'createSandbox' });

  const startOrBackOff = (c: AnyContainer) =>
    actions.push({ type: observed.now >= st(c).nextStartAt ? 'start' : 'backOff', container: c.name });

  // 3. Init containers, in order. Once an app container has run (e.g. adopted after an agent
  // restart, the exited init containers long removed), the pod is initialized: only sidecars run.
  const initialized = apps.some((c) => running(c) || st(c).done || st(c).ranBefore);
  for (const c of inits) {
    const s = st(c);
    if (isSidecar(c)) {
      if (!running(c)) {
        startOrBackOff(c);
        if (!initialized) return actions;
      } else if (!s.started && !initialized) return actions;
      continue;
    }
    if (initialized || (s.done && s.succeeded)) continue;
    if (running(c)) return actions;
    if (s.done) {
      // An init container failed and the restart policy (Never) says no: the pod has failed.
      return [...actions, ...stopSidecars(inits, running), { type: 'finish', failed: true }];
    }
    startOrBackOff(c);
    return actions;
  }

  // 4. App containers.
  for (const c of apps) if (!running(c) && !st(c).done) startOrBackOff(c);

  // 5. A pod whose app containers all exited for good (a Job's pod) is finished.
  if (apps.every((c) => st(c).done && !running(c))) {
    const failed = apps.some((c) => !st(c).succeeded);
    actions.push(...stopSidecars(inits, running), { type: 'finish', failed });
  }
  return actions;
}

/** Kills the running sidecars, the last started first, as the kubelet stops them. */
function stopSidecars(inits: AnyContainer[], running: (c: AnyContainer) => boolean): PodAction[] {
  return inits
    .filter((c) => isSidecar(c) && running(c))
    .reverse()
    .map((c) => ({
      type: 'kill',
      container: c.name,
      reason: 'PodFinished',
      message: 'the main containers have exited',
    }));
}

function fresh(): ObservedContainer {
  return { started: false, done: false, succeeded: false, ranBefore: false, nextStartAt: 0, consecutiveFailures: 0 };
}
