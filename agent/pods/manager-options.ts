/** What the pod manager is given: the node's facts and the hooks into the proxy, DNS and in-cluster API. */

import type { NodeDnsFacts } from '../dns/pod-config';
import type { AgentLogger } from '../log';
import type { InClusterApi } from './in-cluster';
import type { Allocatable } from './resource-fields';

export interface PodManagerOptions {
  nodeIp: string;
  stateDir: string;
  log: AgentLogger;
  now?: () => number;
  tickMs?: number;
  /** Restart back-off base (Kubernetes: 10 s); lowered in tests. */
  backoffBaseMs?: number;
  /** Service environment variables for a pod's containers in this namespace, read at container start. */
  serviceEnv?: (namespace: string) => { name: string; value: string }[];
  inCluster?: InClusterApi;
  /** Whether the node's proxy still sends traffic to this address and host port. */
  routesTo?: (ip: string, port: number) => boolean;
  /**
   * Takes a terminating pod's host ports out of the node's cluster IP rules (agent/proxy/): awaited
   * before the drain and the SIGTERM, since the kernel's DNAT, unlike the proxy, cannot retry.
   */
  withdraw?: (hostPorts: number[]) => Promise<void>;
  /** Longest wait for the proxies to drop a terminating pod before its SIGTERM (default 5 s). */
  drainTimeoutMs?: number;
  /** Extra wait after this node's proxy dropped it, for the other nodes' proxies (default 1 s). */
  drainSettleMs?: number;
  /** The node's DNS facts for new pods' resolv.conf (agent/dns/pod-config.ts). */
  dns?: () => NodeDnsFacts;
  /** The node's allocatable resources, for resourceFieldRef of a container without limits. */
  allocatable?: () => Allocatable;
}
