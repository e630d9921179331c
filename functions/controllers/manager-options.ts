/** What a controller manager is told by its runtime (manager.ts): timings, limits and the optional parts it runs. */
import type { CloudProvider } from '../../providers/types';
import type { KubernetesServiceRanges } from '../kubernetes-service';
import type { NodeLifecycleOptions } from './node-lifecycle';
import type { NodePoolOptions } from './nodepool';

export interface ControllerManagerOptions {
  resyncMs?: number;
  debounceMs?: number;
  leaseTtlMs?: number;
  nodeGracePeriodMs?: number;
  podEvictionDelayMs?: number;
  /** Eviction limits (node-lifecycle.ts); Kubernetes' defaults when omitted. */
  eviction?: Pick<
    NodeLifecycleOptions,
    'evictionRate' | 'secondaryEvictionRate' | 'unhealthyZoneThreshold' | 'largeClusterSizeThreshold'
  >;
  /** Passes repeated per trigger while they keep writing. */
  maxRounds?: number;
  /**
   * How often this manager is expected to look at the cluster (a pass or a scheduled check):
   * looking later than that means the control plane is behind, and node-lifecycle extends its
   * grace by the lag. Default: the retry period locally (1 s); the Lambda runtime says 60 s.
   */
  expectedIntervalMs?: number;
  /**
   * How far behind the rest of the control plane is, ms, read at each look (the local runtime: how
   * late agents' syncs arrive, api/agent/sync-lag.ts): node-lifecycle extends its grace by it as by
   * a late pass, so a server too busy to take heartbeats in time does not mark their nodes NotReady.
   */
  lagProbe?: () => number;
  /**
   * Where renewals reach the heartbeat table late (Lambda's lease stream): a node whose renewal
   * seen is older than this has its Lease read, and a grace about to run out is waited for
   * (overdue.ts). The longest gap between a live agent's renewals. Unset: the table is trusted.
   */
  overdueAfterMs?: number;
  /** The overdue check's wait (default a timer; tests pass their fake clock's). */
  sleep?: (ms: number) => Promise<void>;
  /** The scheduled check runs a full pass at least this often anyway (default one hour). */
  fullResyncMs?: number;
  /** Makes load balancers for LoadBalancer Services; without one they stay pending. */
  provider?: CloudProvider;
  /** Runs the node pool controller (machines for NodePools); without it NodePools are not acted on. */
  nodePools?: NodePoolOptions;
  /** The API's ranges: the `kubernetes` Service is made again after a pass finds it gone (else left to the API). */
  kubernetesService?: KubernetesServiceRanges;
  /**
   * Keep whole-kind lists between passes from the store's change feed (list-cache.ts): only where
   * that feed shows every write (the local runtime); it starts over when it finds one missing.
   */
  listCache?: boolean;
}
