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
  /** The Cloud object's uid: what a machine's Cloud tag is matched on (a name can be reused). */
  uid?: string;
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
  /**
   * The cluster's DNS domain (the server's, `cluster.local` by default): the agent serves it and
   * pods search it (its FERRY_CLUSTER_DOMAIN), so a cloud node answers the same names as a local one.
   */
  clusterDomain?: string;
}

/**
 * The Cloud a machine belongs to. Every machine carries both in its tags; listings match the uid,
 * so two Clouds of one type sharing an account (or the one local provider) never see each other's
 * machines, and a machine of a Cloud deleted and made again under the same name is not adopted.
 */
export interface CloudRef {
  name: string;
  uid: string;
}

/** What a listing selects: the machines of one cluster, in one Cloud, optionally of one pool. */
export interface InstanceFilter {
  cluster: string;
  cloud: CloudRef;
  pool?: string;
}

export interface InstanceSpec {
  /** Becomes the node name; unique in the cluster. */
  name: string;
  cluster: string;
  /** Tagged on the machine (name and uid); `listInstances` of another Cloud never returns it. */
  cloud: CloudRef;
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
  /** The Cloud uid read back from the machine's tags (absent on a machine without one). */
  cloudUid?: string;
  tags: Record<string, string>;
}

/** A Service as its load balancer sees it: each port is forwarded to that node port on every node. */
/** Which Service a load balancer is for: its cluster, namespace and name (what every adapter names and tags it by). */
export type LoadBalancerKey = { cluster: string; namespace: string; name: string };

export interface LoadBalancerService {
  /** Tagged on every resource made for it, with the Service (so two clusters in one account never mix). */
  cluster: string;
  namespace: string;
  name: string;
  /** The Service's uid, tagged too (a Service deleted and made again gets a new one). */
  uid?: string;
  ports: { name?: string; port: number; nodePort: number; protocol: string }[];
  /** The address this Service had (status.loadBalancer.ingress), kept when the provider can. */
  previousAddress?: string;
}

/** A node behind a load balancer; traffic goes only to Ready ones. */
export interface LoadBalancerNode {
  name: string;
  address: string;
  ready: boolean;
  /** The provider's id of the node's machine, where the controller knows it. */
  instanceId?: string;
}

/** Kubernetes' LoadBalancerIngress: an ip or a hostname, and the ports actually served. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ports?: { port: number; protocol: string }[];
}

/** What a machine of one instance type is: its vCPUs and its nominal memory in bytes. */
export interface MachineCapacity {
  cpu: number;
  memory: number;
}

export interface CloudProvider {
  readonly type: string;
  /**
   * What the provider says a machine of `instanceType` is (in `zone`), so a node's claimed capacity
   * can be checked against it. Never throws: undefined means unknown (the lookup failed, the type
   * is not listed, or the provider has no catalogue), and the caller falls back to its bounds.
   * Answers are cached per type.
   */
  machineCapacity?(instanceType: string, zone: string): Promise<MachineCapacity | undefined>;
  /**
   * Starts a machine that boots the agent with `spec.bootstrap`. Not idempotent by itself: callers
   * list first (instances are tagged with cluster and pool). Throws InsufficientCapacityError when
   * the provider cannot place it (try another zone or type).
   */
  createInstance(spec: InstanceSpec): Promise<Instance>;
  /** Stops and removes a machine. Safe to retry: an instance already gone is not an error. */
  deleteInstance(id: string): Promise<void>;
  /**
   * Machines of this cluster and Cloud (and pool), including ones still starting, selected by their
   * tags: a machine without the Cloud's uid tag is never returned. Safe to retry.
   */
  listInstances(filter: InstanceFilter): Promise<Instance[]>;
  /**
   * Creates or updates the load balancer of a Service, in front of the Service's node ports on the
   * given nodes, sending traffic only to Ready ones; returns where clients reach it. Safe to retry.
   */
  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress>;
  /**
   * Deletes the load balancer of a Service and everything made for it (listeners, target groups,
   * rules, probes, its public address). Safe to retry: a load balancer already gone is not an error.
   */
  deleteLoadBalancer(service: LoadBalancerKey): Promise<void>;
}

/**
 * Provider errors carry a `name` (what `instanceof` cannot tell across bundles, and what logs
 * show) and, when they translate an SDK's error, that error as `cause`, so its code and request id
 * reach the log without any SDK type leaving the adapter.
 */
abstract class ProviderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The provider cannot place the machine here now: try another zone or type. */
export class InsufficientCapacityError extends ProviderError {}
/** The provider cannot do this (yet). Not retryable. */
export class NotSupportedError extends ProviderError {}
/** The CloudConfig is missing something the provider needs (names the field). Not retryable. */
export class CloudConfigError extends ProviderError {}
/** A call to the cloud failed for another reason (the SDK's error is the `cause`). Retry on the next pass. */
export class CloudApiError extends ProviderError {}
