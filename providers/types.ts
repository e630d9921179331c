/**
 * The CloudProvider seam (the cloud-controller-manager layer): one adapter per provider creates
 * and deletes the machines that become nodes. Implementations: `local.ts` (agent processes on this
 * machine); `aws.ts` (EC2), `gcp.ts` (Compute Engine), `azure.ts` (Virtual Machines), each built
 * from a `CloudConfig` by `index.ts`. Like Karpenter's `cloudprovider/types.go`, the error contract
 * is part of the interface.
 */

/**
 * Where and how a provider makes machines: a ferry.dev/v1 Cloud's spec, with the credentials of its
 * `credentialsSecretRef` already read (the controller reads the Secret; providers never see the store).
 */
export interface CloudConfig {
  /** The Cloud object's name. */
  name: string;
  type: 'aws' | 'gcp' | 'azure' | 'local';
  region?: string;
  project?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  /** Provider-specific settings: subnet, security groups, network, image, agentImage ... */
  options?: Record<string, unknown>;
  /** The Secret's data, decoded; absent: the provider's default credential chain. */
  credentials?: Record<string, string>;
}

export interface Bootstrap {
  /** URL the node's agent reaches the control plane at. */
  apiUrl: string;
  /** Short-lived bootstrap token: may register one node and nothing else. */
  token: string;
  labels: Record<string, string>;
}

export interface InstanceSpec {
  /** Becomes the node name; unique in the cluster. */
  name: string;
  cluster: string;
  pool: string;
  instanceType: string;
  zone: string;
  image?: string;
  bootstrap: Bootstrap;
  tags: Record<string, string>;
}

export type InstanceState = 'pending' | 'running' | 'stopping' | 'terminated';

export interface Instance {
  /** Provider's id (EC2 instance id, GCP `ZONE/NAME`, Azure VM name, local `local-NAME`). */
  id: string;
  name: string;
  pool: string;
  zone: string;
  state: InstanceState;
  privateIp?: string;
  tags: Record<string, string>;
}

/** A Service as its load balancer sees it: each port is forwarded to that node port on every node. */
export interface LoadBalancerService {
  namespace: string;
  name: string;
  ports: { name?: string; port: number; nodePort: number; protocol: string }[];
  /** The address this Service had (status.loadBalancer.ingress), kept when the provider can. */
  previousAddress?: string;
}

/** A node behind a load balancer; traffic goes only to Ready ones. */
export interface LoadBalancerNode {
  name: string;
  address: string;
  ready: boolean;
}

/** Kubernetes' LoadBalancerIngress: an ip or a hostname, and the ports actually served. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ports?: { port: number; protocol: string }[];
}

export interface CloudProvider {
  readonly type: string;
  /**
   * Starts a machine that boots the agent with `spec.bootstrap`. Not idempotent by itself: callers
   * list first (instances are tagged with cluster and pool). Throws InsufficientCapacityError when
   * the provider cannot place it (try another zone or type).
   */
  createInstance(spec: InstanceSpec): Promise<Instance>;
  /** Stops and removes a machine. Safe to retry: an instance already gone is not an error. */
  deleteInstance(id: string): Promise<void>;
  /** Machines of this cluster (and pool), including ones still starting. Safe to retry. */
  listInstances(filter: { cluster: string; pool?: string }): Promise<Instance[]>;
  /**
   * Creates or updates the load balancer of a Service, in front of the Service's node ports on the
   * given nodes, sending traffic only to Ready ones; returns where clients reach it. Safe to retry.
   */
  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress>;
  /** Safe to retry: a load balancer already gone is not an error. */
  deleteLoadBalancer(service: { namespace: string; name: string }): Promise<void>;
}

export class InsufficientCapacityError extends Error {}
export class InstanceNotFoundError extends Error {}
/** The provider cannot do this (yet): e.g. load balancers on a cloud adapter. Not retryable. */
export class NotSupportedError extends Error {}
/** The CloudConfig is missing something the provider needs (names the field). Not retryable. */
export class CloudConfigError extends Error {}
