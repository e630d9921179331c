/**
 * Builds a pod's status the way the kubelet reports it: phase, conditions (Initialized,
 * ContainersReady, Ready) and one containerStatus per container.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 */

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
  restartCount: number;
}

export interface PortMapping {
  containerName: string;
  name?: string;
  containerPort: number;
  hostPort: number;
  protocol: string;
}

export interface PodView {
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  nodeIp: string;
  podIp?: string;
  startTime?: string;
  containers: ContainerView[];
  /** A pod-level reason while no container exists yet (e.g. sandbox failure). */
  waitingReason?: { reason: string; message: string };
  portMappings: PortMapping[];
  now: string;
}

export function podPhase(view: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
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
  const allReady = view.containers.length > 0 && view.containers.every((c) => c.ready);
  const condition = (type: string, ok: boolean, reason?: string) => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: transitionTime(previous, type, ok ? 'True' : 'False', view.now),
    ...(ok || !reason ? {} : { reason }),
  });
  const status: Record<string, unknown> = {
    phase,
    conditions: [
      condition('Initialized', true),
      condition('ContainersReady', allReady, 'ContainersNotReady'),
      condition('Ready', allReady, 'ContainersNotReady'),
    ],
    hostIP: view.nodeIp,
    containerStatuses: view.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ...(c.containerId ? { containerID: `docker://${c.containerId}` } : {}),
      state: c.state,
      ...(c.lastState ? { lastState: c.lastState } : {}),
      ready: c.ready,
      restartCount: c.restartCount,
      started: 'running' in c.state,
    })),
  };
  if (view.podIp) status.podIP = view.podIp;
  if (view.startTime) status.startTime = view.startTime;
  if (view.waitingReason) {
    status.reason = view.waitingReason.reason;
    status.message = view.waitingReason.message;
  }
  if (view.portMappings.length > 0) status.portMappings = view.portMappings;
  return status;
}

function transitionTime(
  previous: Record<string, unknown> | undefined,
  type: string,
  status: string,
  now: string,
): string {
  const old = (
    previous?.conditions as { type: string; status: string; lastTransitionTime?: string }[] | undefined
  )?.find((c) => c.type === type);
  return old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now;
}
