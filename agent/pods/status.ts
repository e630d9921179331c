/**
 * Builds a pod's status the way the kubelet reports it: phase, conditions (Initialized,
 * ContainersReady, Ready), one containerStatus per container and one initContainerStatus per
 * init container (native sidecars count towards Ready once started).
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 */
import { keepTransitionTimes } from '../../schemas/conditions';
import type { PortMapping } from '../runtime/types';

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; startedAt?: string; finishedAt?: string; message?: string } };

export interface ContainerView {
  name: string;
  image: string;
  containerId?: string;
  state: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  started: boolean;
  restartCount: number;
  /** An init container with restartPolicy Always. */
  sidecar?: boolean;
}

export interface PodView {
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  nodeIp: string;
  podIp?: string;
  startTime?: string;
  containers: ContainerView[];
  initContainers: ContainerView[];
  /** Every regular init container succeeded and every sidecar started (or the app containers ran already). */
  initialized: boolean;
  /** An init container failed and the restart policy is Never. */
  initFailed: boolean;
  /** The pod failed as a whole (activeDeadlineSeconds): phase Failed with this reason. */
  failure?: { reason: string; message: string };
  /** A pod-level reason while no container exists yet (e.g. sandbox failure). */
  waitingReason?: { reason: string; message: string };
  portMappings: PortMapping[];
  now: string;
}

export function podPhase(view: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (view.initFailed || view.failure) return 'Failed';
  if (!view.initialized) return 'Pending';
  const cs = view.containers;
  if (cs.length === 0 || cs.some((c) => 'waiting' in c.state && c.restartCount === 0 && !c.lastState)) return 'Pending';
  const terminated = cs.filter((c) => 'terminated' in c.state);
  if (terminated.length === cs.length && view.restartPolicy !== 'Always') {
    const failed = terminated.some((c) => 'terminated' in c.state && c.state.terminated.exitCode !== 0);
    if (view.restartPolicy === 'Never') return failed ? 'Failed' : 'Succeeded';
    if (!failed) return 'Succeeded';
  }
  return 'Running';
}

export function buildPodStatus(view: PodView, previous?: Record<string, unknown>) {
  const phase = podPhase(view);
  const sidecars = view.initContainers.filter((c) => c.sidecar);
  const allReady = view.containers.length > 0 && [...view.containers, ...sidecars].every((c) => c.ready);
  const incomplete = (list: ContainerView[]) =>
    `containers with incomplete status: [${list.map((c) => c.name).join(' ')}]`;
  const condition = (type: string, ok: boolean, reason: string, message?: string) => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: view.now,
    ...(ok ? {} : { reason, ...(message ? { message } : {}) }),
  });
  const notReady = [...sidecars, ...view.containers].filter((c) => !c.ready);
  const status: Record<string, unknown> = {
    phase,
    conditions: [
      condition(
        'Initialized',
        view.initialized,
        'ContainersNotInitialized',
        incomplete(view.initContainers.filter((c) => !(c.sidecar ? c.started : exitedZero(c)))),
      ),
      condition(
        'ContainersReady',
        allReady,
        'ContainersNotReady',
        `containers with unready status: [${notReady.map((c) => c.name).join(' ')}]`,
      ),
      condition(
        'Ready',
        allReady,
        'ContainersNotReady',
        `containers with unready status: [${notReady.map((c) => c.name).join(' ')}]`,
      ),
    ],
    hostIP: view.nodeIp,
    ...(view.initContainers.length ? { initContainerStatuses: view.initContainers.map(containerStatus) } : {}),
    containerStatuses: view.containers.map(containerStatus),
  };
  if (view.podIp) status.podIP = view.podIp;
  if (view.startTime) status.startTime = view.startTime;
  const reason = view.failure ?? view.waitingReason;
  if (reason) {
    status.reason = reason.reason;
    status.message = reason.message;
  }
  if (view.portMappings.length > 0) status.portMappings = view.portMappings;
  return keepTransitionTimes(previous, status);
}

function containerStatus(c: ContainerView) {
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    ...(c.containerId ? { containerID: `docker://${c.containerId}` } : {}),
    state: c.state,
    ...(c.lastState ? { lastState: c.lastState } : {}),
    ready: c.ready,
    restartCount: c.restartCount,
    started: c.started && 'running' in c.state,
  };
}

function exitedZero(c: ContainerView): boolean {
  return 'terminated' in c.state && c.state.terminated.exitCode === 0;
}
