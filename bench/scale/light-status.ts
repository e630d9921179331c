/**
 * What a light simulated node reports (bench/scale/light-node.ts): its NodeStatus, shaped as
 * agent/node-status.ts builds it for a 4-core, 8 GiB node on the in-memory runtime, and a pod's
 * Running status built by the agent's own builder (agent/pods/status.ts) from the pod's spec, as
 * the pod manager on the in-memory runtime reports a pod whose containers started at once.
 */
import { AGENT_VERSION } from '../../agent/node-status';
import { buildPodStatus, type ContainerView } from '../../agent/pods/status';
import type { PortMapping } from '../../agent/runtime/types';
import { isoTime } from '../../schemas/time';

const RESOURCES = { cpu: '4', memory: '8Gi', pods: '110' };

export function lightNodeStatus(nodeName: string, nodeIp: string, now: number): Record<string, unknown> {
  const time = isoTime(now);
  return {
    capacity: RESOURCES,
    allocatable: RESOURCES,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'AgentReady',
        message: 'agent is posting ready status',
        lastHeartbeatTime: time,
        lastTransitionTime: time,
      },
    ],
    addresses: [
      { type: 'InternalIP', address: nodeIp },
      { type: 'Hostname', address: nodeName },
    ],
    nodeInfo: {
      kubeletVersion: AGENT_VERSION,
      containerRuntimeVersion: 'fake://1.0',
      operatingSystem: 'linux',
      architecture: 'x64',
      kernelVersion: 'light-sim',
      osImage: 'linux',
    },
  };
}

interface ContainerSpec {
  name?: string;
  image?: string;
  ports?: { name?: string; containerPort?: number; protocol?: string }[];
}

export interface PodFacts {
  nodeIp: string;
  podIp: string;
  /** Host ports are handed out from here, one per container port (as the in-memory runtime does). */
  nextHostPort: () => number;
  /** Container ids: `docker://<id>`. */
  containerId: (name: string) => string;
  now: number;
}

/** The status of a pod whose containers all started now and are ready (no probes are simulated). */
export function runningPodStatus(pod: Record<string, unknown>, facts: PodFacts): Record<string, unknown> {
  const spec = (pod.spec ?? {}) as {
    containers?: ContainerSpec[];
    initContainers?: (ContainerSpec & { restartPolicy?: string })[];
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  };
  const startedAt = isoTime(facts.now);
  const portMappings: PortMapping[] = [];
  const view = (c: ContainerSpec, done = false): ContainerView => {
    const name = c.name ?? 'app';
    for (const p of c.ports ?? []) {
      if (p.containerPort === undefined) continue;
      portMappings.push({
        containerName: name,
        ...(p.name ? { name: p.name } : {}),
        containerPort: p.containerPort,
        hostPort: facts.nextHostPort(),
        protocol: p.protocol ?? 'TCP',
      });
    }
    return {
      name,
      image: c.image ?? '',
      containerId: facts.containerId(name),
      state: done
        ? { terminated: { exitCode: 0, reason: 'Completed', startedAt, finishedAt: startedAt } }
        : { running: { startedAt } },
      ready: !done,
      started: !done,
      restartCount: 0,
    };
  };
  const initContainers = (spec.initContainers ?? []).map((c) => {
    const sidecar = c.restartPolicy === 'Always';
    return { ...view(c, !sidecar), ...(sidecar ? { sidecar: true } : {}) };
  });
  return buildPodStatus({
    restartPolicy: spec.restartPolicy ?? 'Always',
    nodeIp: facts.nodeIp,
    podIp: facts.podIp,
    startTime: startedAt,
    containers: (spec.containers ?? []).map((c) => view(c)),
    initContainers,
    initialized: true,
    initFailed: false,
    portMappings,
    now: startedAt,
  });
}
