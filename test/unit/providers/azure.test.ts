import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AzureProvider } from '../../../providers/azure';
import {
  type CloudConfig,
  CloudConfigError,
  type InstanceSpec,
  InsufficientCapacityError,
} from '../../../providers/types';

/**
 * A fake Azure Resource Manager on 127.0.0.1, serving just Microsoft.Compute/virtualMachines the
 * way the REST reference documents it (wire format: a VM's settings under `properties`):
 * PUT answers 200/201 with provisioningState Creating/Updating and an Azure-AsyncOperation header;
 * that operation is InProgress on the first poll and terminal on the next; DELETE answers 202 (204
 * when the VM does not exist); the list pages with nextLink. Zones can be made to fail a create
 * either at once (the PUT answers 409) or in the operation (the VM is then left in state Failed).
 */
type Json = Record<string, unknown>;
interface WireVm {
  id: string;
  name: string;
  type: string;
  location: string;
  zones?: string[];
  tags?: Record<string, string>;
  properties: Json & { provisioningState: string };
}
interface Operation {
  kind: 'create' | 'delete';
  vm: string;
  polls: number;
  error?: { code: string; message: string };
}
interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Json | undefined;
}
type Failure = { how: 'sync' | 'async'; status?: number; code: string; message: string };

const SUB = '00000000-0000-0000-0000-00000000f322';
const RG = 'ferry-nodes';
const VMS = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines`;
const OPS = `/subscriptions/${SUB}/providers/Microsoft.Compute/locations/westeurope`;

const arm = {
  vms: new Map<string, WireVm>(),
  ops: new Map<string, Operation>(),
  requests: [] as Recorded[],
  /** zone -> how a create there fails */
  failures: new Map<string, Failure>(),
  /** What DELETE of a VM that does not exist answers: 204 (documented) or 404 ResourceNotFound. */
  missingDelete: 204 as 204 | 404,
  pageSize: 2,
  base: '',
};

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function notFound(res: ServerResponse, name: string): void {
  send(res, 404, {
    error: {
      code: 'ResourceNotFound',
      message: `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${RG}' was not found.`,
    },
  });
}

function startOperation(res: ServerResponse, status: number, op: Operation, body?: unknown): void {
  const id = randomUUID();
  arm.ops.set(id, op);
  const version = '2026-03-01';
  send(res, status, body, {
    'azure-asyncoperation': `${arm.base}${OPS}/operations/${id}?api-version=${version}`,
    ...(op.kind === 'delete' ? { location: `${arm.base}${OPS}/operationResults/${id}?api-version=${version}` } : {}),
  });
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
  const url = new URL(req.url ?? '/', arm.base);
  const body = raw ? (JSON.parse(raw) as Json) : undefined;
  arm.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, body });
  if (!url.searchParams.get('api-version'))
    return send(res, 400, { error: { code: 'MissingApiVersionParameter', message: 'api-version is required' } });

  const op = /\/operations\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname.startsWith(OPS) && op) {
    const o = arm.ops.get(op[1] ?? '');
    if (!o) return send(res, 404, { error: { code: 'NotFound', message: 'no such operation' } });
    if (++o.polls < 2) return send(res, 200, { name: op[1], status: 'InProgress' });
    const vm = arm.vms.get(o.vm);
    if (o.kind === 'delete') arm.vms.delete(o.vm);
    else if (vm) vm.properties.provisioningState = o.error ? 'Failed' : 'Succeeded';
    return send(res, 200, {
      name: op[1],
      status: o.error ? 'Failed' : 'Succeeded',
      ...(o.error ? { error: o.error } : {}),
    });
  }
  const result = /\/operationResults\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname.startsWith(OPS) && result) {
    const o = arm.ops.get(result[1] ?? '');
    return send(res, o && o.polls < 2 ? 202 : 204);
  }

  if (req.method === 'GET' && url.pathname === VMS) {
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const all = [...arm.vms.values()];
    const next = skip + arm.pageSize;
    return send(res, 200, {
      value: all.slice(skip, next),
      ...(next < all.length ? { nextLink: `${arm.base}${VMS}?api-version=2026-03-01&%24skiptoken=${next}` } : {}),
    });
  }

  const named = url.pathname.startsWith(`${VMS}/`) ? decodeURIComponent(url.pathname.slice(VMS.length + 1)) : '';
  if (!named || named.includes('/')) return send(res, 404, { error: { code: 'NotFound', message: url.pathname } });
  const existing = arm.vms.get(named);
  switch (req.method) {
    case 'GET':
      return existing ? send(res, 200, existing) : notFound(res, named);
    case 'DELETE':
      if (!existing) return arm.missingDelete === 404 ? notFound(res, named) : send(res, 204);
      existing.properties.provisioningState = 'Deleting';
      return startOperation(res, 202, { kind: 'delete', vm: named, polls: 0 });
    case 'PUT': {
      const input = body as { location: string; zones?: string[]; tags?: Record<string, string>; properties: Json };
      const zone = input.zones?.[0] ?? '';
      if (existing && (existing.zones?.[0] ?? '') !== zone)
        return send(res, 409, {
          error: { code: 'PropertyChangeNotAllowed', message: "Changing property 'zones' is not allowed." },
        });
      const failure = arm.failures.get(zone);
      if (failure?.how === 'sync')
        return send(res, failure.status ?? 409, { error: { code: failure.code, message: failure.message } });
      const { osProfile, ...properties } = input.properties as { osProfile?: Json };
      const { customData: _hidden, ...shownOsProfile } = osProfile ?? {}; // ARM never returns customData
      const vm: WireVm = {
        id: `${VMS}/${named}`,
        name: named,
        type: 'Microsoft.Compute/virtualMachines',
        location: input.location,
        ...(input.zones ? { zones: input.zones } : {}),
        ...(input.tags ? { tags: input.tags } : {}),
        properties: {
          ...properties,
          osProfile: shownOsProfile,
          vmId: existing?.properties.vmId ?? randomUUID(),
          provisioningState: existing ? 'Updating' : 'Creating',
        },
      };
      arm.vms.set(named, vm);
      const error = failure?.how === 'async' ? { code: failure.code, message: failure.message } : undefined;
      return startOperation(res, existing ? 200 : 201, { kind: 'create', vm: named, polls: 0, error }, vm);
    }
    default:
      return send(res, 405, { error: { code: 'MethodNotAllowed', message: req.method } });
  }
}

let server: Server;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  arm.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  arm.vms.clear();
  arm.ops.clear();
  arm.requests.length = 0;
  arm.failures.clear();
  arm.missingDelete = 204;
});

const SUBNET = (n: number) =>
  `/subscriptions/${SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/ferry/subnets/zone-${n}`;
const IDENTITY = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ferry-node`;
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryTestKeyOnly ops@example.com';

const cloud: CloudConfig = {
  name: 'azure-weu',
  type: 'azure',
  region: 'westeurope',
  subscriptionId: SUB,
  resourceGroup: RG,
  options: {
    imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
    subnetIds: { '1': SUBNET(1), '2': SUBNET(2), '3': SUBNET(3) },
    sshPublicKey: SSH_KEY,
    userAssignedIdentityId: IDENTITY,
    agentImage: 'registry.example.com/ferry-agent:1',
  },
};

/** The Cloud object these machines are made for (name and uid, as the controller passes them). */
const CLOUD = { name: 'prod.eu', uid: '5f0c2c1e-8f3a-4d3b-9a51-2a7d1c9e0b11' };

const spec: InstanceSpec = {
  name: 'web-pool-k2x9q',
  cluster: 'prod',
  cloud: CLOUD,
  pool: 'web-pool',
  instanceType: 'Standard_D2s_v5',
  zone: '2',
  tags: { team: 'web', 'bad/key': 'dropped' },
  bootstrap: {
    apiUrl: 'https://ferry.example.com',
    token: 'ferry_boot_s3cret',
    clusterDomain: 'corp.internal',
    labels: { 'ferry.dev/pool': 'web-pool' },
  },
};

const fakeCredential = {
  getToken: async () => ({ token: 'fake', expiresOnTimestamp: Date.now() + 3600e3 }),
};

function azure(config: CloudConfig = cloud): AzureProvider {
  return new AzureProvider(config, { endpoint: arm.base, credential: fakeCredential, pollIntervalMs: 1 });
}

const puts = () => arm.requests.filter((r) => r.method === 'PUT');

/** A VM as ARM lists it, for listing tests. */
function seed(name: string, tags: Record<string, string> | undefined, state: string, zone?: string): void {
  arm.vms.set(name, {
    id: `${VMS}/${name}`,
    name,
    type: 'Microsoft.Compute/virtualMachines',
    location: 'westeurope',
    ...(zone ? { zones: [zone] } : {}),
    ...(tags ? { tags } : {}),
    properties: { provisioningState: state },
  });
}

describe('azure provider (ARM virtualMachines, against a fake ARM server)', () => {
  it('creates one tagged VM in the zone, with an inline NIC in the zone subnet, the user-data and no password login', async () => {
    const instance = await azure().createInstance(spec);

    expect(puts()).toHaveLength(1);
    const put = puts()[0];
    expect(put?.path).toBe(`${VMS}/web-pool-k2x9q`);
    expect(put?.query.get('api-version')).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const body = put?.body as Json & { properties: Json };
    expect(body).toMatchObject({
      location: 'westeurope',
      zones: ['2'],
      tags: {
        'ferry-cluster': 'prod',
        'ferry-pool': 'web-pool',
        'ferry-node': 'web-pool-k2x9q',
        'ferry-cloud': CLOUD.name,
        'ferry-cloud-uid': CLOUD.uid,
        team: 'web',
      },
      identity: { type: 'UserAssigned', userAssignedIdentities: { [IDENTITY]: {} } },
      properties: {
        hardwareProfile: { vmSize: 'Standard_D2s_v5' },
        storageProfile: {
          imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
          osDisk: {
            createOption: 'FromImage',
            deleteOption: 'Delete',
            managedDisk: { storageAccountType: 'StandardSSD_LRS' },
          },
        },
        osProfile: {
          computerName: 'web-pool-k2x9q',
          adminUsername: 'ferry',
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: { publicKeys: [{ path: '/home/ferry/.ssh/authorized_keys', keyData: SSH_KEY }] },
          },
        },
        networkProfile: {
          networkApiVersion: '2020-11-01',
          networkInterfaceConfigurations: [
            {
              name: 'web-pool-k2x9q-nic',
              properties: {
                primary: true,
                deleteOption: 'Delete',
                ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: SUBNET(2) } } }],
              },
            },
          ],
        },
      },
    });
    expect(Object.keys(body.tags as Json)).not.toContain('bad/key');
    expect(JSON.stringify(body)).not.toContain('adminPassword');
    const osProfile = body.properties.osProfile as { customData: string };
    const script = Buffer.from(osProfile.customData, 'base64').toString('utf8');
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('FERRY_TOKEN=ferry_boot_s3cret');
    expect(script).toContain('FERRY_API_URL=https://ferry.example.com');
    expect(script).toContain('FERRY_NODE_NAME=web-pool-k2x9q');
    expect(script).toContain('\nFERRY_CLUSTER_DOMAIN=corp.internal\n');
    expect(script).toContain("'registry.example.com/ferry-agent:1'");

    // It waited for the operation (InProgress, then Succeeded) before answering.
    expect(arm.requests.filter((r) => r.path.includes('/operations/'))).toHaveLength(2);
    expect(instance).toEqual({
      id: 'web-pool-k2x9q',
      name: 'web-pool-k2x9q',
      pool: 'web-pool',
      zone: '2',
      state: 'running',
      cloudUid: CLOUD.uid,
      tags: {
        'ferry-cluster': 'prod',
        'ferry-pool': 'web-pool',
        'ferry-node': 'web-pool-k2x9q',
        'ferry-cloud': CLOUD.name,
        'ferry-cloud-uid': CLOUD.uid,
        team: 'web',
      },
    });
  });

  it('takes the NodePool image (a resource id or a URN), and gives a VM without sshPublicKey a throwaway key', async () => {
    const noKey = azure({ ...cloud, options: { ...cloud.options, sshPublicKey: undefined, subnetId: SUBNET(9) } });
    const imageId = `/subscriptions/${SUB}/resourceGroups/images/providers/Microsoft.Compute/galleries/g/images/ferry-node`;
    await noKey.createInstance({ ...spec, name: 'by-id', zone: '', image: imageId });
    await azure().createInstance({ ...spec, name: 'by-urn', image: 'Debian:debian-12:12-gen2:latest' });

    const [byId, byUrn] = puts().map((p) => p.body as { zones?: string[]; properties: Json });
    expect(byId?.zones).toBeUndefined();
    expect(byId?.properties).toMatchObject({
      storageProfile: { imageReference: { id: imageId } },
      networkProfile: {
        networkInterfaceConfigurations: [
          { properties: { ipConfigurations: [{ properties: { subnet: { id: SUBNET(9) } } }] } },
        ],
      },
    });
    const keys = (byId!.properties.osProfile as { linuxConfiguration: { ssh: { publicKeys: { keyData: string }[] } } })
      .linuxConfiguration.ssh.publicKeys;
    expect(keys).toHaveLength(1);
    expect(keys[0]?.keyData).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/=]{300,} ferry-no-login$/);
    expect(byUrn?.properties).toMatchObject({
      storageProfile: {
        imageReference: { publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', version: 'latest' },
      },
    });
  });

  it('creating the same name twice (a retry after a lost reply) leaves one VM', async () => {
    const provider = azure();
    await provider.createInstance(spec);
    const again = await provider.createInstance(spec);

    expect(puts()).toHaveLength(2);
    expect(again.state).toBe('running');
    expect([...arm.vms.keys()]).toEqual(['web-pool-k2x9q']);
    expect((await provider.listInstances({ cluster: 'prod', cloud: CLOUD })).map((i) => i.id)).toEqual([
      'web-pool-k2x9q',
    ]);
  });

  it('a create refused at once for capacity (409 SkuNotAvailable) is InsufficientCapacityError', async () => {
    arm.failures.set('2', {
      how: 'sync',
      code: 'SkuNotAvailable',
      message:
        "The requested size for resource 'web-pool-k2x9q' is currently not available in location 'westeurope' zones '2'.",
    });
    const err = await azure()
      .createInstance(spec)
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(InsufficientCapacityError);
    expect((err as Error).message).toMatch(/Standard_D2s_v5.*zone 2.*SkuNotAvailable/);
    expect(arm.vms.size).toBe(0);
  });

  it('a create whose operation fails for capacity (AllocationFailed) is InsufficientCapacityError, and the failed VM is removed so the name fits the next zone', async () => {
    arm.failures.set('2', {
      how: 'async',
      code: 'AllocationFailed',
      message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.',
    });
    const provider = azure();
    const err = await provider.createInstance(spec).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(InsufficientCapacityError);
    expect((err as Error).message).toMatch(/zone 2.*AllocationFailed/);
    expect(arm.requests.map((r) => r.method)).toContain('DELETE');
    expect(arm.vms.has(spec.name)).toBe(false);

    const placed = await provider.createInstance({ ...spec, zone: '3' });
    expect(placed).toMatchObject({ id: spec.name, zone: '3', state: 'running' });
    expect((puts()[1]!.body as { zones: string[] }).zones).toEqual(['3']);
  });

  it('quota errors are capacity errors too; other refusals are not', async () => {
    arm.failures.set('1', {
      how: 'sync',
      code: 'OperationNotAllowed',
      message: 'Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota.',
    });
    arm.failures.set('3', {
      how: 'sync',
      status: 400,
      code: 'InvalidParameter',
      message: "The value of parameter imageReference.sku is invalid. Target: 'imageReference'",
    });
    const provider = azure();

    await expect(provider.createInstance({ ...spec, zone: '1' })).rejects.toBeInstanceOf(InsufficientCapacityError);
    const other = await provider.createInstance({ ...spec, zone: '3' }).catch((e: unknown) => e);
    expect(other).not.toBeInstanceOf(InsufficientCapacityError);
    expect(other).toMatchObject({ code: 'InvalidParameter', statusCode: 400 });
  });

  it('names the missing or invalid setting, before calling Azure', async () => {
    const { subscriptionId: _s, ...noSubscription } = cloud;
    const { resourceGroup: _r, ...noGroup } = cloud;
    const { region: _l, ...noRegion } = cloud;
    const make = (c: CloudConfig) => () => azure(c);
    expect(make(noSubscription)).toThrow(CloudConfigError);
    expect(make(noSubscription)).toThrow(/spec.subscriptionId/);
    expect(make(noGroup)).toThrow(/spec.resourceGroup/);
    expect(make(noRegion)).toThrow(/spec.region/);
    expect(() => new AzureProvider({ ...cloud, credentials: { tenantId: 't', clientId: 'c' } })).toThrow(
      /clientSecret/,
    );

    const noSubnet = azure({ ...cloud, options: { ...cloud.options, subnetIds: { '1': SUBNET(1) } } });
    await expect(noSubnet.createInstance(spec)).rejects.toThrow(CloudConfigError);
    await expect(noSubnet.createInstance(spec)).rejects.toThrow(/spec.options.subnetId/);
    const noImage = azure({ ...cloud, options: { ...cloud.options, imageReference: undefined } });
    await expect(noImage.createInstance(spec)).rejects.toThrow(/spec.options.imageReference is required/);
    const halfImage = azure({ ...cloud, options: { ...cloud.options, imageReference: { publisher: 'Canonical' } } });
    await expect(halfImage.createInstance(spec)).rejects.toThrow(/imageReference needs .offer, .sku, .version/);
    await expect(azure().createInstance({ ...spec, image: 'ubuntu' })).rejects.toThrow(CloudConfigError);
    for (const name of ['Web-Pool', 'web_pool', '-web', 'web-', 'a'.repeat(65)]) {
      await expect(azure().createInstance({ ...spec, name })).rejects.toThrow(/not a valid Azure VM name/);
    }
    await expect(azure().createInstance({ ...spec, name: 'a'.repeat(64) })).resolves.toMatchObject({
      state: 'running',
    });

    expect(puts()).toHaveLength(1);
  });

  it('lists the VMs of a cluster (and pool) by their tags, across pages, mapping provisioning states', async () => {
    const tags = (cluster: string, pool: string, node: string, cloudUid = CLOUD.uid) => ({
      'ferry-cluster': cluster,
      'ferry-pool': pool,
      'ferry-node': node,
      'ferry-cloud-uid': cloudUid,
    });
    seed('web-a', tags('prod', 'web-pool', 'web-a'), 'Succeeded', '1');
    seed('other-cluster', tags('staging', 'web-pool', 'other-cluster'), 'Succeeded', '1');
    seed('web-b', tags('prod', 'web-pool', 'web-b'), 'Creating', '2');
    seed('not-ferry', undefined, 'Succeeded');
    seed('other-cloud', tags('prod', 'web-pool', 'other-cloud', 'another-cloud-uid'), 'Succeeded', '1');
    seed('batch-a', tags('prod', 'batch', 'batch-a'), 'Deleting', '3');
    seed('web-c', tags('prod', 'web-pool', 'web-c'), 'Failed');
    const provider = azure();

    const pool = await provider.listInstances({ cluster: 'prod', cloud: CLOUD, pool: 'web-pool' });
    expect(pool.map((i) => [i.id, i.name, i.pool, i.zone, i.state])).toEqual([
      ['web-a', 'web-a', 'web-pool', '1', 'running'],
      ['web-b', 'web-b', 'web-pool', '2', 'pending'],
      ['web-c', 'web-c', 'web-pool', '', 'pending'],
    ]);
    const lists = arm.requests.filter((r) => r.method === 'GET' && r.path === VMS);
    expect(lists.map((r) => r.query.get('$skiptoken'))).toEqual([null, '2', '4', '6']);

    const cluster = await provider.listInstances({ cluster: 'prod', cloud: CLOUD });
    expect(cluster.map((i) => [i.id, i.state])).toEqual([
      ['web-a', 'running'],
      ['web-b', 'pending'],
      ['batch-a', 'stopping'],
      ['web-c', 'pending'],
    ]);
    expect(await provider.listInstances({ cluster: 'nobody', cloud: CLOUD })).toEqual([]);
  });

  it('deletes a VM and waits for it to be gone; deleting it again (204 or 404 ResourceNotFound) resolves', async () => {
    const provider = azure();
    await provider.createInstance(spec);
    await provider.deleteInstance(spec.name);

    expect(arm.vms.size).toBe(0);
    const deletes = arm.requests.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => [r.path, r.query.get('forceDeletion')])).toEqual([[`${VMS}/${spec.name}`, null]]);
    expect(await provider.listInstances({ cluster: 'prod', cloud: CLOUD })).toEqual([]);

    await expect(provider.deleteInstance(spec.name)).resolves.toBeUndefined();
    arm.missingDelete = 404;
    await expect(provider.deleteInstance(spec.name)).resolves.toBeUndefined();
    expect(arm.requests.filter((r) => r.method === 'DELETE')).toHaveLength(3);
  });
});
