/** The NodeStatus this agent reports: capacity from the host (or the configured override). */
import { statfsSync } from 'node:fs';
import { arch, availableParallelism, platform, release, totalmem } from 'node:os';
import { isoTime } from '../schemas/time';
import type { AgentConfig } from './config';

export const AGENT_VERSION = 'ferry-agent/0.1.0';

export interface NodeStatusInput {
  config: AgentConfig;
  runtimeVersion: string;
  ready: boolean;
  readyMessage: string;
  now: Date;
}

/** What the node offers pods: reported as capacity and allocatable, and the limit of a container that sets none. */
export function nodeResources(config: AgentConfig): Record<string, string> {
  const cpu = config.cpu ?? String(availableParallelism());
  const memory = config.memory ?? `${Math.floor(totalmem() / 1024)}Ki`;
  const resources: Record<string, string> = { cpu, memory, pods: String(config.maxPods) };
  const storage = ephemeralStorage(config.stateDir);
  if (storage !== undefined) resources['ephemeral-storage'] = storage;
  return resources;
}

export function buildNodeStatus({ config, runtimeVersion, ready, readyMessage, now }: NodeStatusInput) {
  const resources = nodeResources(config);
  const time = isoTime(now.getTime());
  return {
    capacity: resources,
    allocatable: resources,
    conditions: [
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'AgentReady' : 'ContainerRuntimeNotReady',
        message: readyMessage,
        lastHeartbeatTime: time,
        lastTransitionTime: time,
      },
    ],
    addresses: [
      { type: 'InternalIP', address: config.nodeIp },
      { type: 'Hostname', address: config.nodeName },
    ],
    nodeInfo: {
      kubeletVersion: AGENT_VERSION,
      containerRuntimeVersion: runtimeVersion,
      operatingSystem: platform(),
      architecture: arch(),
      kernelVersion: release(),
      osImage: platform(),
    },
  };
}

/**
 * The size of the filesystem pods' writable data lives on, as the kubelet reports
 * `ephemeral-storage` (the scheduler accounts pods' requests of it against this). The state dir's
 * filesystem stands for Docker's; undefined when it cannot be read (the node then offers none).
 */
function ephemeralStorage(dir: string): string | undefined {
  try {
    const fs = statfsSync(dir);
    return `${Math.floor((fs.blocks * fs.bsize) / 1024)}Ki`;
  } catch {
    return undefined;
  }
}

/** Node status without the times, to tell whether anything worth writing changed. */
export function nodeStatusFingerprint(status: ReturnType<typeof buildNodeStatus>): string {
  const { conditions, ...rest } = status;
  return JSON.stringify({ ...rest, conditions: conditions.map((c) => [c.type, c.status, c.reason, c.message]) });
}
