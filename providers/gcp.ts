/**
 * Longer than 400 lines because it is the one Compute Engine adapter (one file per provider, as the
 * seam asks); its load balancers already live in gcp-lb.ts.
 *
 * The `gcp` provider: a node is one Compute Engine instance booted with ferry's user-data
 * (userdata.ts) as its `user-data` metadata, which cloud-init runs on first boot: the image must
 * have cloud-init (Ubuntu and Container-Optimized OS images do; Google's Debian images do not).
 *
 * The instance name is the node name, and the instance id is `ZONE/NAME` (instance names are unique
 * per zone, and every call on an instance needs its zone). Labels: `ferry-cluster`, `ferry-pool`,
 * `ferry-node`, `ferry-cloud` (the Cloud's name, dots made `_`) and `ferry-cloud-uid` (they win over the pool's own tags), plus the pool's tags made into GCE labels
 * (lower-cased, characters other than `[a-z0-9_-]` replaced by `_`, cut to 63 characters; a key
 * that does not then start with a letter is dropped, and so is any tag past the 64-label limit);
 * listing filters on them. The cluster and pool names must themselves be valid label values.
 *
 * An insert carries a `requestId` derived from the project, zone, cluster and node name, so a
 * retried create after a lost reply is deduplicated by Compute Engine (it answers the first
 * request's operation); once it has forgotten the id, the insert answers 409 alreadyExists and the
 * adapter returns the existing instance, if it is labelled with this cluster. Creating waits for
 * the zone operation, then reads the instance back (so its internal IP is known). Capacity
 * (InsufficientCapacityError, so the pool tries another zone): a failed operation or a refused
 * insert with `ZONE_RESOURCE_POOL_EXHAUSTED(_WITH_DETAILS)`, `RESOURCE_POOL_EXHAUSTED`,
 * `QUOTA_EXCEEDED` (`quotaExceeded`) or `STOCKOUT`.
 *
 * Listing is one aggregated list across the project's zones, by label. Statuses:
 * PENDING/PROVISIONING/STAGING/REPAIRING → pending, RUNNING → running, and STOPPING, SUSPENDING,
 * SUSPENDED, STOPPED, TERMINATED (GCE's "stopped"; the instance and its disk still exist) and
 * DEPROVISIONING → stopping. Deleted instances vanish from the list.
 *
 * Cloud options: `sourceImage` (unless the NodePool names an image: e.g.
 * `projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64`), `network` (default
 * `global/networks/default` when no subnetwork is given), `subnetwork` or `subnetworks` (zone ->
 * subnetwork, e.g. `regions/europe-west1/subnetworks/nodes`), `externalIp` (true: an ephemeral
 * public address; without it the node needs Cloud NAT to pull the agent image), `serviceAccountEmail`
 * (attached with the cloud-platform scope; its IAM roles decide what it may do), `diskSizeGb`,
 * `agentImage`, `agentEnv` (more agent settings, e.g. FERRY_SANDBOX_IMAGE). The Cloud's spec names
 * the `project`. Credentials: the Cloud's Secret (`serviceAccountKey`: a service account's JSON
 * key), else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity,
 * the metadata server, a gcloud login).
 *
 * Load balancers: a target pool and forwarding rule per Service (gcp-lb.ts).
 */
import { createHash } from 'node:crypto';
import { InstancesClient, MachineTypesClient, type protos, ZoneOperationsClient } from '@google-cloud/compute';
import { apiError } from './gcp-errors';
import type { GcpLoadBalancers } from './gcp-lb';
import { MachineCatalogue } from './machine-capacity';
import {
  type CloudConfig,
  CloudConfigError,
  type CloudProvider,
  type Instance,
  type InstanceFilter,
  type InstanceSpec,
  type InstanceState,
  InsufficientCapacityError,
  type LoadBalancerIngress,
  type LoadBalancerNode,
  type LoadBalancerService,
  type MachineCapacity,
} from './types';
import { stringOption, userData, userDataOptions } from './userdata';

type GceInstance = protos.google.cloud.compute.v1.IInstance;
type GceOperation = protos.google.cloud.compute.v1.IOperation;
type ClientOptions = NonNullable<ConstructorParameters<typeof InstancesClient>[0]>;

/** Compute Engine error codes meaning "not here, not now": try another zone or machine type. */
const CAPACITY_ERRORS = new Set([
  'ZONE_RESOURCE_POOL_EXHAUSTED',
  'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
  'RESOURCE_POOL_EXHAUSTED',
  'QUOTA_EXCEEDED',
  'STOCKOUT',
]);

/** Instance.status. Anything else (unknown) is pending. */
const STATES: Record<string, InstanceState> = {
  PENDING: 'pending',
  PROVISIONING: 'pending',
  STAGING: 'pending',
  REPAIRING: 'pending',
  RUNNING: 'running',
  STOPPING: 'stopping',
  SUSPENDING: 'stopping',
  SUSPENDED: 'stopping',
  STOPPED: 'stopping',
  TERMINATED: 'stopping',
  DEPROVISIONING: 'stopping',
};

const CLUSTER_LABEL = 'ferry-cluster';
const POOL_LABEL = 'ferry-pool';
const CLOUD_LABEL = 'ferry-cloud';
/** A Cloud's uid is a lowercase UUID, already a valid label value; listings match it. */
const CLOUD_UID_LABEL = 'ferry-cloud-uid';
const NODE_LABEL = 'ferry-node';
const MAX_LABELS = 64;
/** A Compute Engine resource name (RFC 1035 label). */
const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label value: also what a cluster or pool name must be, to be labelled and filtered on. */
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** How long a create or delete waits for its zone operation. */
const OPERATION_TIMEOUT_MS = 5 * 60_000;

export interface GcpOverrides {
  /** Compute API host (default: compute.googleapis.com); with `port` and `protocol`, for local fakes. */
  apiEndpoint?: string;
  port?: number;
  /** `http` for a local fake only. */
  protocol?: string;
  /** A google-auth-library client (e.g. an OAuth2Client), instead of the Secret's key or ADC. */
  authClient?: unknown;
  /** Pause between two waits on an operation that is not done yet (default 1000 ms). */
  pollIntervalMs?: number;
}

export class GcpProvider implements CloudProvider {
  readonly type = 'gcp';
  private readonly project: string;
  private readonly instances: InstancesClient;
  private readonly operations: ZoneOperationsClient;
  private readonly pollIntervalMs: number;
  private readonly clientOptions: ClientOptions;
  private lbs: Promise<GcpLoadBalancers> | undefined;
  /** machineTypes.get in the machine's zone, once per type: guestCpus and memoryMb (MiB). */
  private readonly catalogue = new MachineCatalogue(async (machineType, zone) => {
    const client = new MachineTypesClient({ ...this.clientOptions });
    try {
      const [type] = await client.get({ project: this.project, zone, machineType });
      return { cpu: type.guestCpus, memoryMiB: type.memoryMb };
    } finally {
      await client.close();
    }
  });

  constructor(
    private readonly config: CloudConfig,
    overrides: GcpOverrides = {},
  ) {
    if (!config.project) throw new CloudConfigError(`cloud ${config.name}: spec.project is required for gcp`);
    this.project = config.project;
    this.pollIntervalMs = overrides.pollIntervalMs ?? 1000;
    const options: ClientOptions = {
      projectId: config.project,
      fallback: true, // REST: Compute Engine has no gRPC endpoint
      ...(overrides.apiEndpoint ? { apiEndpoint: overrides.apiEndpoint } : {}),
      ...(overrides.port ? { port: overrides.port } : {}),
      ...(overrides.protocol ? { protocol: overrides.protocol } : {}),
    };
    if (overrides.authClient) options.authClient = overrides.authClient as ClientOptions['authClient'];
    else {
      const key = config.credentials?.serviceAccountKey;
      if (key) options.credentials = serviceAccountKey(config.name, key);
    }
    this.instances = new InstancesClient({ ...options });
    this.operations = new ZoneOperationsClient({ ...options });
    this.clientOptions = options;
  }

  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    return this.loadBalancers().then((lbs) => lbs.ensure(service, nodes));
  }

  deleteLoadBalancer(service: { cluster: string; namespace: string; name: string }): Promise<void> {
    return this.loadBalancers().then((lbs) => lbs.delete(service));
  }

  /** Built on the first load balancer (its clients share the instances' options and credentials). */
  private loadBalancers(): Promise<GcpLoadBalancers> {
    this.lbs ??= import('./gcp-lb').then(
      ({ GcpLoadBalancers }) => new GcpLoadBalancers(this.config, this.project, this.instances, this.clientOptions),
    );
    return this.lbs;
  }

  machineCapacity(instanceType: string, zone: string): Promise<MachineCapacity | undefined> {
    return this.catalogue.get(instanceType, zone);
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    const options = this.config.options ?? {};
    const { name, zone } = spec;
    if (!GCE_NAME.test(name))
      throw new CloudConfigError(
        `cloud ${this.config.name}: node name ${JSON.stringify(name)} is not a valid Compute Engine instance name (a lowercase letter, then lowercase letters, digits and '-', at most 63 characters)`,
      );
    if (!GCE_NAME.test(zone))
      throw new CloudConfigError(`cloud ${this.config.name}: zone ${JSON.stringify(zone)} is not a GCP zone name`);
    this.checkLabelValue('cluster', spec.cluster);
    this.checkLabelValue('pool', spec.pool);
    const sourceImage = spec.image ?? stringOption(options, 'sourceImage');
    if (!sourceImage)
      throw new CloudConfigError(
        `cloud ${this.config.name}: spec.options.sourceImage is required (or the NodePool's image)`,
      );
    const diskSizeGb = this.diskSizeGb(options.diskSizeGb);
    const subnetworks = options.subnetworks;
    const subnetwork =
      (subnetworks && typeof subnetworks === 'object'
        ? stringOption(subnetworks as Record<string, unknown>, zone)
        : undefined) ?? stringOption(options, 'subnetwork');
    const network = stringOption(options, 'network') ?? (subnetwork ? undefined : 'global/networks/default');
    const serviceAccountEmail = stringOption(options, 'serviceAccountEmail');

    const instanceResource: GceInstance = {
      name,
      machineType: `zones/${zone}/machineTypes/${spec.instanceType}`,
      labels: labelsOf(spec),
      metadata: { items: [{ key: 'user-data', value: userData(spec, userDataOptions(options)) }] },
      disks: [
        {
          boot: true,
          autoDelete: true,
          initializeParams: { sourceImage, ...(diskSizeGb ? { diskSizeGb } : {}) },
        },
      ],
      networkInterfaces: [
        {
          ...(network ? { network } : {}),
          ...(subnetwork ? { subnetwork } : {}),
          ...(options.externalIp === true ? { accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] } : {}),
        },
      ],
      ...(serviceAccountEmail
        ? { serviceAccounts: [{ email: serviceAccountEmail, scopes: [CLOUD_PLATFORM_SCOPE] }] }
        : {}),
    };

    let operation: GceOperation | undefined;
    try {
      const [lro] = await this.instances.insert({
        project: this.project,
        zone,
        requestId: requestId(this.project, zone, spec.cluster, name),
        instanceResource,
      });
      operation = lro.latestResponse as GceOperation;
    } catch (err) {
      const { status, reasons } = apiError(err);
      const capacity = reasons.find((r) => CAPACITY_ERRORS.has(r));
      if (capacity) throw this.noCapacity(spec, capacity, (err as Error).message, err);
      // A create retried after its requestId expired: the instance is there already.
      if (status !== 409 || (reasons.length > 0 && !reasons.includes('ALREADY_EXISTS'))) throw err;
    }
    if (operation) {
      const done = await this.waitFor(operation, zone, `creating ${name} in ${zone}`);
      const errors = done.error?.errors ?? [];
      const capacity = errors.find((e) => CAPACITY_ERRORS.has(e.code ?? ''));
      if (capacity) throw this.noCapacity(spec, capacity.code as string, capacity.message ?? '');
      if (errors.length > 0) throw new Error(`gcp: creating ${name} in ${zone} failed: ${describe(errors)}`);
    }
    const [instance] = await this.instances.get({ project: this.project, zone, instance: name });
    const cluster = instance.labels?.[CLUSTER_LABEL];
    if (cluster !== spec.cluster)
      throw new Error(
        `gcp: an instance ${name} already exists in ${zone} and is not a node of cluster ${spec.cluster} (its ${CLUSTER_LABEL} label: ${JSON.stringify(cluster ?? null)})`,
      );
    return toInstance(instance);
  }

  /** `id` is `ZONE/NAME`, as this adapter returns it. */
  async deleteInstance(id: string): Promise<void> {
    const [zone, name, ...rest] = id.split('/');
    if (!zone || !name || rest.length > 0 || !GCE_NAME.test(zone) || !GCE_NAME.test(name))
      throw new Error(`gcp: instance id ${JSON.stringify(id)} is not ZONE/NAME`);
    let operation: GceOperation;
    try {
      const [lro] = await this.instances.delete({ project: this.project, zone, instance: name });
      operation = lro.latestResponse as GceOperation;
    } catch (err) {
      if (apiError(err).status === 404) return;
      throw err;
    }
    const done = await this.waitFor(operation, zone, `deleting ${id}`);
    const errors = (done.error?.errors ?? []).filter((e) => e.code !== 'RESOURCE_NOT_FOUND');
    if (errors.length > 0) throw new Error(`gcp: deleting ${id} failed: ${describe(errors)}`);
  }

  async listInstances(filter: InstanceFilter): Promise<Instance[]> {
    this.checkLabelValue('cluster', filter.cluster);
    this.checkLabelValue('cloud uid', filter.cloud.uid);
    const terms = [
      `(labels.${CLUSTER_LABEL} = "${filter.cluster}")`,
      `(labels.${CLOUD_UID_LABEL} = "${filter.cloud.uid}")`,
    ];
    if (filter.pool) {
      this.checkLabelValue('pool', filter.pool);
      terms.push(`(labels.${POOL_LABEL} = "${filter.pool}")`);
    }
    const out: Instance[] = [];
    const pages = this.instances.aggregatedListAsync(
      { project: this.project, filter: terms.join(' AND ') },
      { autoPaginate: false },
    );
    for await (const [, scoped] of pages) {
      for (const instance of scoped.instances ?? []) out.push(toInstance(instance));
    }
    return out;
  }

  /** Waits on a zone operation until it is DONE (each wait blocks up to ~2 min on Compute Engine). */
  private async waitFor(operation: GceOperation, zone: string, what: string): Promise<GceOperation> {
    const deadline = Date.now() + OPERATION_TIMEOUT_MS;
    let op = operation;
    while (op.status !== 'DONE') {
      if (!op.name) throw new Error(`gcp: ${what}: the operation has no name`);
      if (Date.now() > deadline) throw new Error(`gcp: ${what}: operation ${op.name} not done after 5 minutes`);
      [op] = await this.operations.wait({ project: this.project, zone, operation: op.name });
      if (op.status !== 'DONE') await sleep(this.pollIntervalMs);
    }
    return op;
  }

  private noCapacity(spec: InstanceSpec, code: string, message: string, cause?: unknown): InsufficientCapacityError {
    return new InsufficientCapacityError(
      `gcp: no ${spec.instanceType} capacity in ${spec.zone} (${code}): ${message}`,
      cause === undefined ? undefined : { cause },
    );
  }

  private checkLabelValue(field: 'cluster' | 'pool' | 'cloud uid', value: string): void {
    if (!value || !LABEL_VALUE.test(value))
      throw new CloudConfigError(
        `cloud ${this.config.name}: ${field} name ${JSON.stringify(value)} cannot be a GCP label value (lowercase letters, digits, '_' and '-', at most 63 characters)`,
      );
  }

  private diskSizeGb(value: unknown): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    const text = String(value);
    if (!/^[1-9][0-9]{0,5}$/.test(text))
      throw new CloudConfigError(
        `cloud ${this.config.name}: spec.options.diskSizeGb must be a whole number of GB, not ${JSON.stringify(value)}`,
      );
    return text; // int64: a string in the REST API's JSON
  }
}

function serviceAccountKey(cloud: string, key: string): ClientOptions['credentials'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(key);
  } catch {
    throw new CloudConfigError(`cloud ${cloud}: credentials.serviceAccountKey is not JSON (a service account key)`);
  }
  const body = parsed as { client_email?: unknown; private_key?: unknown } | null;
  if (!body || typeof body.client_email !== 'string' || typeof body.private_key !== 'string')
    throw new CloudConfigError(
      `cloud ${cloud}: credentials.serviceAccountKey is not a service account key (no client_email or private_key)`,
    );
  return parsed as ClientOptions['credentials'];
}

/**
 * A UUID (RFC 9562 version 8: custom, here SHA-256 based) naming this create: the same node in the
 * same zone gives the same id, so Compute Engine runs a retried insert once; the same node name
 * tried in the next zone after a capacity error is a new request.
 */
function requestId(project: string, zone: string, cluster: string, name: string): string {
  const b = createHash('sha256').update(`ferry\0${project}\0${zone}\0${cluster}\0${name}`).digest().subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x80;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The pool's tags as GCE labels, then ferry's own (which win). */
function labelsOf(spec: InstanceSpec): Record<string, string> {
  const ours: Record<string, string> = {
    [CLUSTER_LABEL]: spec.cluster,
    [POOL_LABEL]: spec.pool,
    [NODE_LABEL]: spec.name,
    // A Cloud name is a DNS subdomain: its dots are not allowed in a label value.
    [CLOUD_LABEL]: labelText(spec.cloud.name),
    [CLOUD_UID_LABEL]: labelText(spec.cloud.uid),
  };
  const labels: Record<string, string> = {};
  let room = MAX_LABELS - Object.keys(ours).length;
  for (const [k, v] of Object.entries(spec.tags)) {
    const key = labelText(k);
    if (!/^[a-z]/.test(key) || key in ours || key in labels) continue;
    if (room-- <= 0) break;
    labels[key] = labelText(v);
  }
  return { ...labels, ...ours };
}

function labelText(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '_')
    .slice(0, 63);
}

function toInstance(i: GceInstance): Instance {
  const labels: Record<string, string> = { ...(i.labels ?? {}) };
  const zone = (i.zone ?? '').split('/').pop() ?? '';
  const name = i.name ?? '';
  const privateIp = i.networkInterfaces?.[0]?.networkIP;
  return {
    id: `${zone}/${name}`,
    name: labels[NODE_LABEL] ?? name,
    pool: labels[POOL_LABEL] ?? '',
    zone,
    state: STATES[i.status ?? ''] ?? 'pending',
    ...(privateIp ? { privateIp } : {}),
    ...(labels[CLOUD_UID_LABEL] ? { cloudUid: labels[CLOUD_UID_LABEL] } : {}),
    tags: labels,
  };
}

function describe(errors: { code?: string | null; message?: string | null }[]): string {
  return errors.map((e) => `${e.code ?? 'ERROR'}: ${e.message ?? ''}`).join('; ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
