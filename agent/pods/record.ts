/**
 * What the pod manager remembers of each pod and container between passes: the runtime's ids,
 * restart bookkeeping (counts, back-off), probe state and the status last built and reported.
 */
import type { Container, InitContainer, Pod } from '../../schemas/pod';
import type { ProbeState } from '../probes';
import type { PodIdentity, SandboxInfo } from '../runtime/types';
import type { ContainerState } from './status';

/** A container of either list; `init` tells which, `sidecar` an init container with restartPolicy Always. */
export type AnyContainer = Container & Pick<InitContainer, 'restartPolicy'>;

export interface ContainerRecord {
  name: string;
  id?: string;
  /** Hash of the spec the running instance was created from. */
  specHash: string;
  restartCount: number;
  consecutiveFailures: number;
  nextStartAt: number;
  startedAtMs?: number;
  state: ContainerState;
  lastState?: ContainerState;
  startup?: ProbeState;
  liveness?: ProbeState;
  readiness?: ProbeState;
  /** The startup probe passed (or there is none) since the instance started. */
  started: boolean;
  ready: boolean;
  /** Why the running instance must be killed (a probe or the postStart hook failed). */
  unhealthy?: { reason: string; message: string; graceSeconds?: number };
  /** Exited for good (restart policy says no), or an init container that succeeded. */
  done: boolean;
  /** Output tails of the last exited instances, newest first (for `logs` and `logs --previous`). */
  exitedLogs?: string[];
}

export interface PodRecord {
  identity: PodIdentity;
  pod?: Pod;
  sandbox?: SandboxInfo;
  containers: Map<string, ContainerRecord>;
  startTime?: string;
  waitingReason?: { reason: string; message: string };
  stopping?: Promise<void>;
  stopped: boolean;
  /** Every container exited for good: here, or before this agent started (nothing is run again). */
  finished?: 'here' | 'before';
  /** Stopped for running past spec.activeDeadlineSeconds (status reason DeadlineExceeded). */
  deadlineExceeded?: boolean;
  /** Evicted for a disk emptyDir over its sizeLimit (status reason Evicted, this message; pod-failure.ts). */
  evicted?: string;
  /** When the pod's emptyDir usage was last measured. */
  diskCheckedAt?: number;
  status?: Record<string, unknown>;
  statusJson?: string;
  reportedJson?: string;
  terminationReported: boolean;
}

export function newContainerRecord(name: string, specHash: string): ContainerRecord {
  return {
    name,
    specHash,
    restartCount: 0,
    consecutiveFailures: 0,
    nextStartAt: 0,
    state: { waiting: { reason: 'ContainerCreating' } },
    started: false,
    ready: false,
    done: false,
  };
}

export function podKey(rec: { identity: PodIdentity }): string {
  return `${rec.identity.namespace}/${rec.identity.name}`;
}
