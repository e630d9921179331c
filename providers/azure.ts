/**
 * The `azure` provider: a node is one Azure virtual machine booted with ferry's user-data
 * (userdata.ts) as its `customData`, in the Cloud's resource group.
 *
 * A VM is created with an inline NIC (`networkProfile.networkInterfaceConfigurations`) in the
 * zone's subnet, so no network SDK is needed; its NIC and OS disk have `deleteOption: Delete` and go
 * with it. Tags: `ferry-cluster`, `ferry-pool`, `ferry-node`, `ferry-cloud`, `ferry-cloud-uid`
 * (they win over the pool's own tags), plus the pool's tags (keys Azure refuses, with any of `<>%&\?/`, are dropped); listing filters on
 * them. The instance id is the VM name (= the node name), the resource group being the Cloud's. A
 * create is a PUT by name, so a retried create after a lost reply updates the same VM instead of
 * making a second one. Creating waits for Azure's long-running operation: it resolves once the VM
 * is provisioned. Zones are Azure's zone numbers ("1", "2", "3"); an empty zone means regional.
 *
 * Capacity (InsufficientCapacityError, so the pool tries another zone): `SkuNotAvailable`,
 * `AllocationFailed`, `ZonalAllocationFailed`, `Overconstrained(Zonal)AllocationRequest`,
 * `QuotaExceeded`, and `OperationNotAllowed` when it is about quota. They come either at once
 * (the PUT answers 409/400) or as a failed operation, which leaves a VM in provisioning state
 * Failed behind: the adapter deletes that VM first, so nothing is left over and the same name can
 * be created in the next zone.
 *
 * Listing reads the VMs of the resource group (one call per page) and maps `provisioningState`:
 * Creating/Updating/Migrating → pending, Succeeded → running, Deleting → stopping. Failed also maps
 * to pending: the adapter deletes the VMs of failed creates itself, and a VM that is Failed after an
 * update (a failed extension, say) may well still run its node, so it keeps counting. The power
 * state (a VM stopped or deallocated outside ferry) would cost one call per VM and is not read: such
 * a VM lists as running and its node goes NotReady. `privateIp` is not set: the address lives on the
 * NIC, a Microsoft.Network resource, which this adapter does not read.
 *
 * Cloud options: `imageReference` (unless the NodePool names an image: an image resource id, a
 * `publisher:offer:sku:version` URN, or an object `{ publisher, offer, sku, version }`),
 * `subnetId` or `subnetIds` (zone -> subnet resource id), `adminUsername` (default `ferry`),
 * `sshPublicKey` (an OpenSSH public key for that user; without one, password login stays off and
 * the VM gets a throwaway key nobody holds, since Azure requires one of the two), `osDiskType`
 * (default `StandardSSD_LRS`), `userAssignedIdentityId` (a managed identity's resource id),
 * `agentImage`, `agentEnv` (more agent settings, e.g. FERRY_SANDBOX_IMAGE). The Cloud's spec names
 * `subscriptionId`, `resourceGroup` and `region` (the location). Credentials: the Cloud's Secret
 * (`tenantId`, `clientId`, `clientSecret`: a service principal), else DefaultAzureCredential (env,
 * workload identity, managed identity, Azure CLI login).
 *
 * Load balancers: a Standard Load Balancer and public IP per Service (azure-lb.ts).
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import {
  ComputeManagementClient,
  type ImageReference,
  type VirtualMachine,
  type VirtualMachineIdentity,
} from '@azure/arm-compute';
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { AzureLoadBalancers, AzureNetworkOptions } from './azure-lb';
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

/** ARM error codes meaning "not here, not now": try another zone or VM size. */
const CAPACITY_ERRORS = new Set([
  'SkuNotAvailable',
  'AllocationFailed',
  'ZonalAllocationFailed',
  'OverconstrainedAllocationRequest',
  'OverconstrainedZonalAllocationRequest',
  'QuotaExceeded',
]);

/** provisioningState, lower-cased. Anything else (Failed, Canceled, unknown) is pending. */
const STATES: Record<string, InstanceState> = {
  creating: 'pending',
  updating: 'pending',
  migrating: 'pending',
  succeeded: 'running',
  deleting: 'stopping',
};

const CLUSTER_TAG = 'ferry-cluster';
const POOL_TAG = 'ferry-pool';
const NODE_TAG = 'ferry-node';
const CLOUD_TAG = 'ferry-cloud';
const CLOUD_UID_TAG = 'ferry-cloud-uid';
/** A Linux VM name (and computer name) as ferry makes them: a DNS label of 1 to 64 characters. */
const VM_NAME = /^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$/;
/** Characters Azure refuses in a tag name. */
const BAD_TAG_KEY = /[<>%&\\?/]/;

export interface AzureOverrides {
  /** ARM endpoint (default: Azure's public cloud). A plain `http://` one is for local fakes only. */
  endpoint?: string;
  /** Instead of the Secret's service principal or DefaultAzureCredential. */
  credential?: TokenCredential;
  /** Polling interval of long-running operations (default: the SDK's, or Azure's Retry-After). */
  pollIntervalMs?: number;
}

export class AzureProvider implements CloudProvider {
  readonly type = 'azure';
  private readonly compute: ComputeManagementClient;
  private readonly resourceGroup: string;
  private readonly location: string;
  private readonly poll: { updateIntervalInMs?: number };
  private readonly network: AzureNetworkOptions;
  private lbs: Promise<AzureLoadBalancers> | undefined;
  /** The location's VM sizes (virtualMachineSizes.list), once per size: numberOfCores and memoryInMB (MiB). */
  private readonly catalogue = new MachineCatalogue(async (vmSize) => {
    for await (const size of this.compute.virtualMachineSizes.list(this.location)) {
      if (size.name?.toLowerCase() === vmSize.toLowerCase())
        return { cpu: size.numberOfCores, memoryMiB: size.memoryInMB };
    }
    return undefined;
  });

  constructor(
    private readonly config: CloudConfig,
    overrides: AzureOverrides = {},
  ) {
    for (const field of ['subscriptionId', 'resourceGroup', 'region'] as const) {
      if (!config[field]) throw new CloudConfigError(`cloud ${config.name}: spec.${field} is required for azure`);
    }
    this.resourceGroup = config.resourceGroup as string;
    this.location = config.region as string;
    this.poll = overrides.pollIntervalMs !== undefined ? { updateIntervalInMs: overrides.pollIntervalMs } : {};
    const endpoint = overrides.endpoint;
    const insecure = endpoint?.startsWith('http://') ?? false;
    const credential = overrides.credential ?? credentialOf(config);
    this.network = {
      credential,
      ...(endpoint ? { endpoint } : {}),
      ...(overrides.pollIntervalMs !== undefined ? { pollIntervalMs: overrides.pollIntervalMs } : {}),
    };
    this.compute = new ComputeManagementClient(credential, config.subscriptionId as string, {
      ...(endpoint ? { endpoint } : {}),
      ...(insecure ? { allowInsecureConnection: true } : {}),
    });
    // The bearer token policy refuses plain http (it would send the token in clear): a local fake
    // endpoint gets no Authorization header at all.
    if (insecure) this.compute.pipeline.removePolicy({ name: 'bearerTokenAuthenticationPolicy' });
  }

  machineCapacity(instanceType: string, zone: string): Promise<MachineCapacity | undefined> {
    return this.catalogue.get(instanceType, zone);
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    const options = this.config.options ?? {};
    const name = spec.name;
    if (!VM_NAME.test(name))
      throw new CloudConfigError(
        `cloud ${this.config.name}: node name ${JSON.stringify(name)} is not a valid Azure VM name (lowercase letters, digits and '-', 1 to 64 characters)`,
      );
    const imageReference = this.imageOf(spec.image ?? options.imageReference);
    const subnets = (options.subnetIds ?? {}) as Record<string, unknown>;
    const subnetId = stringOption(subnets, spec.zone) ?? stringOption(options, 'subnetId');
    if (!subnetId)
      throw new CloudConfigError(
        `cloud ${this.config.name}: spec.options.subnetId (or spec.options.subnetIds[${JSON.stringify(spec.zone)}]) is required for azure`,
      );
    const admin = stringOption(options, 'adminUsername') ?? 'ferry';
    const keyData = stringOption(options, 'sshPublicKey') ?? (await throwawaySshKey());
    const identityId = stringOption(options, 'userAssignedIdentityId');
    const identity: VirtualMachineIdentity | undefined = identityId
      ? { type: 'UserAssigned', userAssignedIdentities: { [identityId]: {} } }
      : undefined;
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.tags)) if (!BAD_TAG_KEY.test(k)) tags[k] = v;
    Object.assign(tags, {
      [CLUSTER_TAG]: spec.cluster,
      [POOL_TAG]: spec.pool,
      [NODE_TAG]: name,
      [CLOUD_TAG]: spec.cloud.name,
      [CLOUD_UID_TAG]: spec.cloud.uid,
    });

    const vm: VirtualMachine = {
      location: this.location,
      ...(spec.zone ? { zones: [spec.zone] } : {}),
      tags,
      ...(identity ? { identity } : {}),
      hardwareProfile: { vmSize: spec.instanceType },
      storageProfile: {
        imageReference,
        osDisk: {
          createOption: 'FromImage',
          deleteOption: 'Delete',
          managedDisk: { storageAccountType: stringOption(options, 'osDiskType') ?? 'StandardSSD_LRS' },
        },
      },
      osProfile: {
        computerName: name,
        adminUsername: admin,
        customData: Buffer.from(userData(spec, userDataOptions(options))).toString('base64'),
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ssh: { publicKeys: [{ path: `/home/${admin}/.ssh/authorized_keys`, keyData }] },
        },
      },
      networkProfile: {
        networkApiVersion: '2020-11-01',
        networkInterfaceConfigurations: [
          {
            name: `${name}-nic`,
            primary: true,
            deleteOption: 'Delete',
            ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnetId } }],
          },
        ],
      },
    };

    let out: VirtualMachine;
    try {
      out = await this.compute.virtualMachines.createOrUpdate(this.resourceGroup, name, vm, this.poll);
    } catch (err) {
      const code = capacityCode(err);
      if (!code) throw err;
      let leftover = '';
      if (isOperationFailure(err)) {
        // The PUT was accepted and the operation failed: Azure keeps the VM, in state Failed.
        try {
          await this.deleteInstance(name);
        } catch (cleanup) {
          leftover = `; deleting the failed VM ${name} failed too: ${(cleanup as Error).message}`;
        }
      }
      throw new InsufficientCapacityError(
        `azure: no ${spec.instanceType} capacity in ${this.location} zone ${spec.zone || '(none)'} (${code}): ${(err as Error).message}${leftover}`,
        { cause: err },
      );
    }
    return toInstance(out, name);
  }

  async deleteInstance(id: string): Promise<void> {
    try {
      await this.compute.virtualMachines.delete(this.resourceGroup, id, this.poll);
    } catch (err) {
      const e = err as { statusCode?: number; code?: string };
      if (e.statusCode === 404 || e.code === 'ResourceNotFound' || e.code === 'NotFound') return;
      throw err;
    }
  }

  async listInstances(filter: InstanceFilter): Promise<Instance[]> {
    const out: Instance[] = [];
    for await (const vm of this.compute.virtualMachines.list(this.resourceGroup)) {
      const tags = vm.tags ?? {};
      if (tags[CLUSTER_TAG] !== filter.cluster || tags[CLOUD_UID_TAG] !== filter.cloud.uid) continue;
      if (filter.pool !== undefined && tags[POOL_TAG] !== filter.pool) continue;
      out.push(toInstance(vm, vm.name ?? ''));
    }
    return out;
  }

  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    return this.loadBalancers().then((lbs) => lbs.ensure(service, nodes));
  }

  deleteLoadBalancer(service: { cluster: string; namespace: string; name: string }): Promise<void> {
    return this.loadBalancers().then((lbs) => lbs.delete(service));
  }

  /** The network SDK is loaded on the first load balancer, not with the provider. */
  private loadBalancers(): Promise<AzureLoadBalancers> {
    this.lbs ??= import('./azure-lb').then(
      ({ AzureLoadBalancers }) => new AzureLoadBalancers(this.config, this.network),
    );
    return this.lbs;
  }

  /** The image: the NodePool's (a string) or `spec.options.imageReference` (a string or an object). */
  private imageOf(image: unknown): ImageReference {
    const where = `cloud ${this.config.name}: spec.options.imageReference`;
    if (typeof image === 'string' && image !== '') {
      if (image.startsWith('/')) return { id: image };
      const parts = image.split(':');
      if (parts.length === 4 && parts.every((p) => p !== '')) {
        const [publisher, offer, sku, version] = parts as [string, string, string, string];
        return { publisher, offer, sku, version };
      }
      throw new CloudConfigError(
        `${where} (or the NodePool's image) ${JSON.stringify(image)} is neither an image resource id nor a publisher:offer:sku:version URN`,
      );
    }
    if (image && typeof image === 'object' && !Array.isArray(image)) {
      const ref = image as Record<string, unknown>;
      const fields = ['publisher', 'offer', 'sku', 'version'] as const;
      const missing = fields.filter((f) => typeof ref[f] !== 'string' || ref[f] === '');
      if (missing.length > 0) throw new CloudConfigError(`${where} needs ${missing.map((f) => `.${f}`).join(', ')}`);
      return {
        publisher: ref.publisher as string,
        offer: ref.offer as string,
        sku: ref.sku as string,
        version: ref.version as string,
      };
    }
    throw new CloudConfigError(`${where} is required (or the NodePool's image)`);
  }
}

function credentialOf(config: CloudConfig): TokenCredential {
  const creds = config.credentials;
  const keys = ['tenantId', 'clientId', 'clientSecret'] as const;
  const given = keys.filter((k) => creds?.[k]);
  if (given.length === 0) return new DefaultAzureCredential();
  const missing = keys.filter((k) => !creds?.[k]);
  if (missing.length > 0)
    throw new CloudConfigError(
      `cloud ${config.name}: the credentials Secret has ${given.join(', ')} but not ${missing.join(', ')}`,
    );
  const { tenantId, clientId, clientSecret } = creds as Record<(typeof keys)[number], string>;
  return new ClientSecretCredential(tenantId, clientId, clientSecret);
}

function toInstance(vm: VirtualMachine, fallbackName: string): Instance {
  const tags = { ...(vm.tags ?? {}) };
  const name = vm.name ?? fallbackName;
  return {
    id: name,
    ...(tags[CLOUD_UID_TAG] ? { cloudUid: tags[CLOUD_UID_TAG] } : {}),
    name: tags[NODE_TAG] ?? name,
    pool: tags[POOL_TAG] ?? '',
    zone: vm.zones?.[0] ?? '',
    state: STATES[(vm.provisioningState ?? '').toLowerCase()] ?? 'pending',
    tags,
  };
}

/**
 * The capacity error code of a failed create, if it is one. A refused PUT is a RestError with the
 * ARM code in `code`; a failed long-running operation is a plain Error whose message carries it
 * ("The long-running operation has failed. AllocationFailed. ...").
 */
function capacityCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const code =
    typeof e.code === 'string' ? e.code : /^The long-running operation has failed\. ([A-Za-z]+)\./.exec(message)?.[1];
  if (!code) return undefined;
  if (CAPACITY_ERRORS.has(code)) return code;
  if (code === 'OperationNotAllowed' && /quota/i.test(message)) return code;
  return undefined;
}

/** A failed long-running operation, as opposed to a request ARM refused (which has a status). */
function isOperationFailure(err: unknown): boolean {
  return typeof (err as { statusCode?: unknown }).statusCode !== 'number';
}

/**
 * An OpenSSH RSA public key whose private half is thrown away at once: Azure requires an SSH key
 * when password login is off, and without `sshPublicKey` nobody is meant to log in.
 */
async function throwawaySshKey(): Promise<string> {
  const { publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const mpint = (b64url: string | undefined) => {
    const b = Buffer.from(b64url ?? '', 'base64url');
    return (b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  };
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-rsa')), field(mpint(jwk.e)), field(mpint(jwk.n))]);
  return `ssh-rsa ${blob.toString('base64')} ferry-no-login`;
}
