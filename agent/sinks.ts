/**
 * What the agent's sync loop (agent.ts) feeds and reads: the pod manager, the service proxy, the
 * built-in ingress and the usage collector, each behind the few methods the loop calls.
 */
import type {
  ConfigSource,
  IngressTable,
  LogRequestRef,
  NodeVolume,
  PodRef,
  ServiceRoute,
  StreamRequest,
  UsageReport,
} from '../schemas/agent-protocol';
import type { StreamSocket } from './exec/dial';

/** What the sync loop needs from the pod manager (agent/pods/). */
export interface PodSink {
  /** The pods bound to this node, as the control plane sees them now. */
  setDesired(
    pods: Record<string, unknown>[],
    config?: { configMaps?: ConfigSource[]; secrets?: ConfigSource[] },
    volumes?: NodeVolume[],
  ): void;
  /** Statuses that changed since `markReported` was last called for them. */
  changedStatuses(): { pod: PodRef; status: Record<string, unknown> }[];
  /** Terminating pods whose containers are all gone. */
  terminated(): PodRef[];
  markReported(statuses: { pod: PodRef; status: Record<string, unknown> }[], terminated: PodRef[]): void;
  /** After a failed sync, everything is resent. */
  markAllUnreported(): void;
  runtimeHealthy(): Promise<{ ok: boolean; message: string; version: string }>;
  /** A container's output, for a log request. */
  logs(req: LogRequestRef): Promise<{ content: string } | { error: string }>;
  /** A stream session (a log request with `stream`): dials back with `dial` and runs it (agent/exec/). */
  stream?(
    req: LogRequestRef & { stream: StreamRequest },
    dial: (session: string) => Promise<StreamSocket>,
  ): Promise<void>;
  /** Called when there are statuses to report, so a held sync can be cut short. */
  onStatusChange(listener: () => void): void;
}

/** What the sync loop feeds the service proxy (agent/proxy/). */
export interface ServiceSink {
  update(routes: ServiceRoute[]): Promise<void>;
}

/** What the sync loop feeds the built-in ingress (agent/ingress/): its table, and the routes for its endpoints. */
export interface IngressSink {
  update(table: IngressTable | undefined, routes: readonly ServiceRoute[] | undefined): Promise<void>;
}

/** Where the node's usage comes from (agent/metrics/collector.ts). */
export interface UsageSource {
  report(): Promise<UsageReport>;
}
