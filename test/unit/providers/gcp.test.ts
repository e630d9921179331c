import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GcpProvider } from '../../../providers/gcp';
import {
  type CloudConfig,
  CloudConfigError,
  type InstanceSpec,
  InsufficientCapacityError,
  type LoadBalancerService,
  NotSupportedError,
} from '../../../providers/types';

/**
 * A fake Compute Engine API v1 on 127.0.0.1, serving just instances and zone operations the way
 * the REST reference documents them (JSON; int64 fields as strings): an insert or delete answers an
 * Operation that is RUNNING; the first `wait` on it still answers RUNNING (as after wait's 2-minute
 * cap), the next one DONE, which is when the instance appears as RUNNING (or goes). An insert with
 * a requestId seen before answers that request's operation; an insert of a name that exists answers
 * 409 alreadyExists; unknown instances 404 notFound; a zone can be made to run out of capacity,
 * either in the operation or at once (403 quotaExceeded).
 */
type Json = Record<string, unknown>;
interface WireInstance extends Json {
  name: string;
  zone: string;
  status: string;
  labels?: Record<string, string>;
}
interface WireOperation extends Json {
  name: string;
  status: 'RUNNING' | 'DONE';
  zone: string;
  operationType: 'insert' | 'delete';
  targetLink: string;
}
interface PendingOp {
  op: WireOperation;
  waits: number;
  /** Applied when the operation becomes DONE. */
  finish: () => void;
}
interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Json | undefined;
}

const PROJECT = 'ferry-test-1';
const BASE = `/compute/v1/projects/${PROJECT}`;

const gce = {
  /** `${zone}/${name}` -> instance */
  instances: new Map<string, WireInstance>(),
  ops: new Map<string, PendingOp>(),
  requestIds: new Map<string, string>(),
  requests: [] as Recorded[],
  /** zone -> how an insert there runs out of capacity */
  noCapacity: new Map<string, 'operation' | 'quota'>(),
  zones: new Set(['europe-west1-b', 'europe-west1-c', 'europe-west1-d']),
  pageSize: 500,
  /** Regional load balancer resources by name. */
  targetPools: new Map<string, Json & { instances: string[] }>(),
  forwardingRules: new Map<string, Json>(),
  /** Region operations: RUNNING until their first wait. */
  regionOps: new Map<string, WireOperation>(),
  self: '',
  nextOp: 1,
  nextIp: 2,
};

/** What the fake answers: an HTTP status and a JSON body. */
type Reply = [status: number, body: unknown];

function googleError(code: number, reason: string, message: string): Reply {
  return [code, { error: { code, message, errors: [{ message, domain: 'global', reason }] } }];
}

function notFound(what: string): Reply {
  return googleError(404, 'notFound', `The resource '${what}' was not found`);
}

function startOperation(
  zone: string,
  type: WireOperation['operationType'],
  name: string,
  finish: () => void,
): WireOperation {
  const op: WireOperation = {
    kind: 'compute#operation',
    id: String(8_000_000_000_000_000_000n + BigInt(gce.nextOp)),
    name: `operation-${gce.nextOp++}-${type}`,
    zone: `${gce.self}${BASE}/zones/${zone}`,
    operationType: type,
    targetLink: `${gce.self}${BASE}/zones/${zone}/instances/${name}`,
    status: 'RUNNING',
    progress: 0,
  };
  gce.ops.set(`${zone}/${op.name}`, { op, waits: 0, finish });
  return op;
}

function insert(zone: string, query: URLSearchParams, body: Json): Reply {
  const requestId = query.get('requestId');
  const seen = requestId ? gce.requestIds.get(requestId) : undefined;
  if (seen) return [200, gce.ops.get(seen)?.op];
  const name = String(body.name);
  if (gce.instances.has(`${zone}/${name}`))
    return googleError(
      409,
      'alreadyExists',
      `The resource 'projects/${PROJECT}/zones/${zone}/instances/${name}' already exists`,
    );
  const shortage = gce.noCapacity.get(zone);
  if (shortage === 'quota')
    return googleError(403, 'quotaExceeded', "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1.");
  const nics = (body.networkInterfaces ?? [{}]) as Json[];
  const instance: WireInstance = {
    ...body,
    kind: 'compute#instance',
    id: String(4_000_000_000_000_000_000n + BigInt(gce.nextIp)),
    name,
    zone: `${gce.self}${BASE}/zones/${zone}`,
    machineType: `${gce.self}${BASE}/${String(body.machineType)}`,
    status: 'PROVISIONING',
    networkInterfaces: nics.map((nic, i) => ({ ...nic, name: `nic${i}`, networkIP: `10.132.0.${gce.nextIp++}` })),
    selfLink: `${gce.self}${BASE}/zones/${zone}/instances/${name}`,
    creationTimestamp: new Date().toISOString(),
  };
  const op = startOperation(zone, 'insert', name, () => {
    if (shortage === 'operation') {
      const message = `The zone 'projects/${PROJECT}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`;
      Object.assign(op, {
        error: { errors: [{ code: 'ZONE_RESOURCE_POOL_EXHAUSTED', message }] },
        httpErrorStatusCode: 503,
        httpErrorMessage: 'SERVICE UNAVAILABLE',
      });
      gce.instances.delete(`${zone}/${name}`);
    } else instance.status = 'RUNNING';
  });
  gce.instances.set(`${zone}/${name}`, instance);
  if (requestId) gce.requestIds.set(requestId, `${zone}/${op.name}`);
  return [200, op];
}

function wait(zone: string, name: string): Reply {
  const pending = gce.ops.get(`${zone}/${name}`);
  if (!pending) return notFound(`projects/${PROJECT}/zones/${zone}/operations/${name}`);
  if (pending.op.status !== 'DONE' && ++pending.waits >= 2) {
    pending.op.status = 'DONE';
    pending.op.progress = 100;
    pending.finish();
  }
  return [200, pending.op];
}

function aggregatedList(query: URLSearchParams): Reply {
  const terms = [...(query.get('filter') ?? '').matchAll(/labels\.([a-z][a-z0-9_-]*) = "([^"]*)"/g)];
  const matching = [...gce.instances.values()].filter((i) => terms.every(([, k, v]) => i.labels?.[k as string] === v));
  const start = Number(query.get('pageToken') ?? 0);
  const page = matching.slice(start, start + gce.pageSize);
  const items: Record<string, Json> = {};
  for (const zone of gce.zones) {
    const here = page.filter((i) => i.zone.endsWith(`/zones/${zone}`));
    items[`zones/${zone}`] = here.length
      ? { instances: here }
      : { warning: { code: 'NO_RESULTS_ON_PAGE', message: 'There are no results for scope ...' } };
  }
  return [
    200,
    {
      kind: 'compute#instanceAggregatedList',
      id: `projects/${PROJECT}/aggregated/instances`,
      items,
      ...(start + gce.pageSize < matching.length ? { nextPageToken: String(start + gce.pageSize) } : {}),
    },
  ];
}

/** Targets pools and forwarding rules in one region, as the REST reference documents them. */
function regional(method: string, region: string, rest: string, body: Json | undefined): Reply | undefined {
  const op = (type: string, name: string): Reply => {
    const o = {
      kind: 'compute#operation',
      name: `operation-${gce.nextOp++}-${type}`,
      region: `${gce.self}${BASE}/regions/${region}`,
      operationType: type,
      targetLink: `${gce.self}${BASE}/regions/${region}/${name}`,
      status: 'RUNNING',
    } as unknown as WireOperation;
    gce.regionOps.set(o.name, o);
    return [200, o];
  };
  const wait = rest.match(/^operations\/([^/]+)\/wait$/);
  if (wait && method === 'POST') {
    const o = gce.regionOps.get(wait[1] as string);
    if (!o) return notFound(rest);
    o.status = 'DONE';
    return [200, o];
  }
  for (const [kind, store] of [
    ['targetPools', gce.targetPools],
    ['forwardingRules', gce.forwardingRules],
  ] as const) {
    const self = (name: string) => `${gce.self}${BASE}/regions/${region}/${kind}/${name}`;
    if (rest === kind && method === 'POST') {
      const name = String(body?.name);
      if (store.has(name)) return googleError(409, 'alreadyExists', `The resource '${self(name)}' already exists`);
      const made = {
        ...body,
        kind: `compute#${kind.slice(0, -1)}`,
        name,
        selfLink: self(name),
        region: `${gce.self}${BASE}/regions/${region}`,
      };
      if (kind === 'forwardingRules') Object.assign(made, { IPAddress: `34.76.0.${gce.nextIp++}` });
      else Object.assign(made, { instances: (body?.instances as string[] | undefined) ?? [] });
      (store as Map<string, Json>).set(name, made);
      return op('insert', `${kind}/${name}`);
    }
    const one = rest.match(new RegExp(`^${kind}/([^/]+)(?:/(addInstance|removeInstance))?$`));
    if (!one) continue;
    const [, name, action] = one as unknown as [string, string, string | undefined];
    const item = store.get(name);
    if (!item) return notFound(`projects/${PROJECT}/regions/${region}/${kind}/${name}`);
    if (method === 'GET' && !action) return [200, item];
    if (method === 'DELETE' && !action) {
      store.delete(name);
      return op('delete', `${kind}/${name}`);
    }
    if (method === 'POST' && action && kind === 'targetPools') {
      const pool = item as Json & { instances: string[] };
      const refs = ((body?.instances as { instance: string }[] | undefined) ?? []).map((r) => r.instance);
      pool.instances =
        action === 'addInstance' ? [...pool.instances, ...refs] : pool.instances.filter((i) => !refs.includes(i));
      return op(action, `${kind}/${name}`);
    }
  }
  return undefined;
}

function route(method: string, path: string, query: URLSearchParams, body: Json | undefined): Reply {
  const inRegion = path.match(/^\/regions\/([^/]+)\/(.+)$/);
  if (inRegion) return regional(method, inRegion[1] as string, inRegion[2] as string, body) ?? notFound(path);
  if (method === 'GET' && path === '/aggregated/instances') return aggregatedList(query);
  const insertTo = path.match(/^\/zones\/([^/]+)\/instances$/);
  if (insertTo && method === 'POST') return insert(insertTo[1] as string, query, body ?? {});
  const waitOn = path.match(/^\/zones\/([^/]+)\/operations\/([^/]+)\/wait$/);
  if (waitOn && method === 'POST') return wait(waitOn[1] as string, waitOn[2] as string);
  const one = path.match(/^\/zones\/([^/]+)\/instances\/([^/]+)$/);
  if (one) {
    const [, zone, name] = one as unknown as [string, string, string];
    const instance = gce.instances.get(`${zone}/${name}`);
    if (!instance) return notFound(`projects/${PROJECT}/zones/${zone}/instances/${name}`);
    if (method === 'GET') return [200, instance];
    if (method === 'DELETE') {
      instance.status = 'STOPPING';
      return [200, startOperation(zone, 'delete', name, () => gce.instances.delete(`${zone}/${name}`))];
    }
  }
  return notFound(`${method} ${path}`);
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  const method = req.method ?? '';
  const body = raw ? (JSON.parse(raw) as Json) : undefined;
  gce.requests.push({ method, path: url.pathname, query: url.searchParams, body });
  const [status, reply] =
    req.headers.authorization !== 'Bearer fake-token'
      ? googleError(401, 'required', 'Request is missing required authentication credential.')
      : url.pathname.startsWith(`${BASE}/`)
        ? route(method, url.pathname.slice(BASE.length), url.searchParams, body)
        : notFound(url.pathname);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(reply));
}

let server: Server;
let port = 0;
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'fake-token' });

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
  port = (server.address() as AddressInfo).port;
  gce.self = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  gce.instances.clear();
  gce.ops.clear();
  gce.requestIds.clear();
  gce.requests.length = 0;
  gce.noCapacity.clear();
  gce.pageSize = 500;
  gce.nextOp = 1;
  gce.targetPools.clear();
  gce.forwardingRules.clear();
  gce.regionOps.clear();
});

const cloud: CloudConfig = {
  name: 'gcp-eu',
  type: 'gcp',
  project: PROJECT,
  region: 'europe-west1',
  options: {
    sourceImage: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64',
    subnetworks: { 'europe-west1-c': 'regions/europe-west1/subnetworks/nodes-c' },
    subnetwork: 'regions/europe-west1/subnetworks/nodes',
    serviceAccountEmail: 'ferry-node@ferry-test-1.iam.gserviceaccount.com',
    diskSizeGb: 50,
    agentImage: 'registry.example.com/ferry-agent:1',
    agentEnv: { FERRY_LOG_LEVEL: 'debug' },
  },
};

/** The Cloud object these machines are made for (name and uid, as the controller passes them). */
const CLOUD = { name: 'prod.eu', uid: '5f0c2c1e-8f3a-4d3b-9a51-2a7d1c9e0b11' };

const spec: InstanceSpec = {
  name: 'web-pool-k2x9q',
  cluster: 'prod',
  cloud: CLOUD,
  pool: 'web-pool',
  instanceType: 'e2-standard-2',
  zone: 'europe-west1-c',
  tags: { Team: 'Web', 'cost/center': 'R&D 42', '9lives': 'x', 'ferry-cluster': 'spoofed' },
  bootstrap: {
    apiUrl: 'https://ferry.example.com',
    token: 'ferry_boot_s3cret',
    clusterDomain: 'corp.internal',
    labels: { 'ferry.dev/pool': 'web-pool' },
  },
};

/** Building the clients costs ~70 ms (their protos), so the default provider is shared. */
let shared: GcpProvider | undefined;
function gcp(config: CloudConfig = cloud): GcpProvider {
  if (config === cloud && shared) return shared;
  const provider = new GcpProvider(config, {
    apiEndpoint: '127.0.0.1',
    port,
    protocol: 'http',
    authClient,
    pollIntervalMs: 1,
  });
  if (config === cloud) shared = provider;
  return provider;
}

const inserts = () => gce.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/instances'));

describe('gcp provider (Compute Engine, against a fake REST API on 127.0.0.1)', () => {
  it('inserts one labelled instance in the zone and subnetwork with the user-data, waits for it, and returns it running with its IP', async () => {
    const instance = await gcp().createInstance(spec);

    const [post] = inserts();
    expect(post?.path).toBe(`${BASE}/zones/europe-west1-c/instances`);
    expect(post?.body).toMatchObject({
      name: 'web-pool-k2x9q',
      machineType: 'zones/europe-west1-c/machineTypes/e2-standard-2',
      disks: [
        {
          boot: true,
          autoDelete: true,
          initializeParams: {
            sourceImage: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64',
            diskSizeGb: '50',
          },
        },
      ],
      networkInterfaces: [{ subnetwork: 'regions/europe-west1/subnetworks/nodes-c' }],
      serviceAccounts: [
        {
          email: 'ferry-node@ferry-test-1.iam.gserviceaccount.com',
          scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        },
      ],
    });
    const nic = (post?.body?.networkInterfaces as Json[] | undefined)?.[0];
    expect(nic).not.toHaveProperty('network'); // the subnetwork's network
    expect(nic).not.toHaveProperty('accessConfigs'); // no public address unless asked
    expect(post?.body?.labels).toEqual({
      team: 'web',
      cost_center: 'r_d_42',
      'ferry-cluster': 'prod',
      'ferry-pool': 'web-pool',
      'ferry-node': 'web-pool-k2x9q',
      'ferry-cloud': 'prod_eu', // a Cloud name's dot is not allowed in a label value
      'ferry-cloud-uid': CLOUD.uid,
    });
    const items = (post?.body?.metadata as { items: { key: string; value: string }[] } | undefined)?.items ?? [];
    expect(items.map((i) => i.key)).toEqual(['user-data']);
    const script = items[0]?.value ?? '';
    expect(script).toMatch(/^#!\/bin\/bash\n/);
    expect(script).toContain('FERRY_TOKEN=ferry_boot_s3cret\n');
    expect(script).toContain('FERRY_API_URL=https://ferry.example.com\n');
    expect(script).toContain('\nFERRY_CLUSTER_DOMAIN=corp.internal\n');
    expect(script).toContain('FERRY_NODE_NAME=web-pool-k2x9q\n');
    expect(script).toContain('FERRY_LOG_LEVEL=debug\n');
    expect(script).toContain(" 'registry.example.com/ferry-agent:1'");
    expect(post?.query.get('requestId')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );

    // The operation needed two waits, then the instance was read back.
    const waits = gce.requests.filter((r) => r.path.endsWith('/wait'));
    expect(waits.map((r) => r.path)).toEqual([
      `${BASE}/zones/europe-west1-c/operations/operation-1-insert/wait`,
      `${BASE}/zones/europe-west1-c/operations/operation-1-insert/wait`,
    ]);
    expect(gce.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: `${BASE}/zones/europe-west1-c/instances/web-pool-k2x9q`,
    });
    expect(instance).toEqual({
      id: 'europe-west1-c/web-pool-k2x9q',
      name: 'web-pool-k2x9q',
      pool: 'web-pool',
      zone: 'europe-west1-c',
      state: 'running',
      privateIp: expect.stringMatching(/^10\.132\.0\.\d+$/),
      cloudUid: CLOUD.uid,
      tags: {
        team: 'web',
        cost_center: 'r_d_42',
        'ferry-cluster': 'prod',
        'ferry-pool': 'web-pool',
        'ferry-node': 'web-pool-k2x9q',
        'ferry-cloud': 'prod_eu',
        'ferry-cloud-uid': CLOUD.uid,
      },
    });
  });

  it('uses the default network, or the named one, where no subnetwork is given; a public address on request', async () => {
    const { subnetworks: _a, subnetwork: _b, ...rest } = cloud.options ?? {};
    await gcp({ ...cloud, options: rest }).createInstance({ ...spec, zone: 'europe-west1-b' });
    await gcp({ ...cloud, options: { ...rest, network: 'global/networks/ferry', externalIp: true } }).createInstance({
      ...spec,
      zone: 'europe-west1-d',
    });

    const [first, second] = inserts().map((r) => (r.body?.networkInterfaces as Json[] | undefined)?.[0]);
    expect(first).toEqual({ network: 'global/networks/default' });
    expect(second).toEqual({
      network: 'global/networks/ferry',
      accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }],
    });
  });

  it('sends the same requestId when a create is retried, so only one instance is made; another zone is another request', async () => {
    const provider = gcp();
    const first = await provider.createInstance(spec);
    const again = await provider.createInstance(spec);
    await provider.createInstance({ ...spec, zone: 'europe-west1-d' });

    const ids = inserts().map((r) => r.query.get('requestId'));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(again).toEqual(first);
    expect([...gce.instances.keys()].sort()).toEqual([
      'europe-west1-c/web-pool-k2x9q',
      'europe-west1-d/web-pool-k2x9q',
    ]);
  });

  it('returns the existing instance when a retried insert answers 409 alreadyExists (the requestId long expired)', async () => {
    const provider = gcp();
    const first = await provider.createInstance(spec);
    gce.requestIds.clear();

    const again = await provider.createInstance(spec);

    expect(inserts()).toHaveLength(2);
    expect(again).toEqual(first);
    expect(gce.instances.size).toBe(1);
  });

  it("refuses an existing instance of that name that is not this cluster's", async () => {
    await gcp().createInstance({ ...spec, cluster: 'staging' });
    gce.requestIds.clear();

    await expect(gcp().createInstance(spec)).rejects.toThrow(/not a node of cluster prod/);
  });

  it('turns a zone out of resources, or out of quota, into InsufficientCapacityError, leaving nothing behind', async () => {
    gce.noCapacity.set('europe-west1-c', 'operation');
    gce.noCapacity.set('europe-west1-d', 'quota');
    const provider = gcp();

    const exhausted = provider.createInstance(spec);
    await expect(exhausted).rejects.toBeInstanceOf(InsufficientCapacityError);
    await expect(exhausted).rejects.toThrow(
      /e2-standard-2 capacity in europe-west1-c \(ZONE_RESOURCE_POOL_EXHAUSTED\)/,
    );
    const quota = provider.createInstance({ ...spec, zone: 'europe-west1-d' });
    await expect(quota).rejects.toBeInstanceOf(InsufficientCapacityError);
    await expect(quota).rejects.toThrow(/europe-west1-d \(QUOTA_EXCEEDED\)/);
    expect(gce.instances.size).toBe(0);

    // The pool's next try, in another zone, works.
    await expect(provider.createInstance({ ...spec, zone: 'europe-west1-b' })).resolves.toMatchObject({
      id: 'europe-west1-b/web-pool-k2x9q',
      state: 'running',
    });
  });

  it('lists the cluster, or one pool, across zones by label, mapping statuses', async () => {
    const provider = gcp();
    const made = [
      ['europe-west1-b', 'web-pool', 'web-pool-aaaaa', 'RUNNING'],
      ['europe-west1-c', 'web-pool', 'web-pool-bbbbb', 'STAGING'],
      ['europe-west1-d', 'web-pool', 'web-pool-ccccc', 'TERMINATED'],
      ['europe-west1-b', 'batch', 'batch-ddddd', 'STOPPING'],
    ] as const;
    for (const [zone, pool, name, status] of made) {
      await provider.createInstance({ ...spec, zone, pool, name });
      (gce.instances.get(`${zone}/${name}`) as WireInstance).status = status;
    }
    await provider.createInstance({ ...spec, cluster: 'staging', name: 'web-pool-eeeee' });
    // Another Cloud listed with the same credential (same project): never this Cloud's machine.
    await provider.createInstance({ ...spec, cloud: { name: 'prod.us', uid: 'other-uid' }, name: 'web-pool-fffff' });
    gce.pageSize = 2;
    gce.requests.length = 0;

    const pool = await provider.listInstances({ cluster: 'prod', cloud: CLOUD, pool: 'web-pool' });
    const all = await provider.listInstances({ cluster: 'prod', cloud: CLOUD });

    const byName = (list: typeof pool) =>
      list.map((i) => [i.id, i.name, i.pool, i.zone, i.state] as const).sort((a, b) => a[1].localeCompare(b[1]));
    expect(byName(pool)).toEqual([
      ['europe-west1-b/web-pool-aaaaa', 'web-pool-aaaaa', 'web-pool', 'europe-west1-b', 'running'],
      ['europe-west1-c/web-pool-bbbbb', 'web-pool-bbbbb', 'web-pool', 'europe-west1-c', 'pending'],
      ['europe-west1-d/web-pool-ccccc', 'web-pool-ccccc', 'web-pool', 'europe-west1-d', 'stopping'],
    ]);
    expect(byName(all).map((i) => i[1])).toEqual(['batch-ddddd', 'web-pool-aaaaa', 'web-pool-bbbbb', 'web-pool-ccccc']);
    expect(all.find((i) => i.name === 'batch-ddddd')?.state).toBe('stopping');
    expect(pool.every((i) => i.privateIp?.startsWith('10.132.0.'))).toBe(true);

    const lists = gce.requests.filter((r) => r.path === `${BASE}/aggregated/instances`);
    expect(lists.length).toBeGreaterThan(2); // more than one page each
    const uid = `(labels.ferry-cloud-uid = "${CLOUD.uid}")`;
    expect(lists[0]?.query.get('filter')).toBe(
      `(labels.ferry-cluster = "prod") AND ${uid} AND (labels.ferry-pool = "web-pool")`,
    );
    expect(lists.at(-1)?.query.get('filter')).toBe(`(labels.ferry-cluster = "prod") AND ${uid}`);
  });

  it('deletes an instance by ZONE/NAME and waits; deleting it again resolves', async () => {
    const provider = gcp();
    const instance = await provider.createInstance(spec);
    gce.requests.length = 0;

    await provider.deleteInstance(instance.id);
    expect(gce.instances.size).toBe(0);
    expect(gce.requests.map((r) => `${r.method} ${r.path.slice(BASE.length)}`)).toEqual([
      'DELETE /zones/europe-west1-c/instances/web-pool-k2x9q',
      'POST /zones/europe-west1-c/operations/operation-2-delete/wait',
      'POST /zones/europe-west1-c/operations/operation-2-delete/wait',
    ]);

    await expect(provider.deleteInstance(instance.id)).resolves.toBeUndefined();
    await expect(provider.listInstances({ cluster: 'prod', cloud: CLOUD })).resolves.toEqual([]);
    await expect(provider.deleteInstance('web-pool-k2x9q')).rejects.toThrow(/is not ZONE\/NAME/);
  });

  it('names what is missing or wrong: project, credentials, sourceImage, node, cluster and pool names', async () => {
    expect(() => new GcpProvider({ name: 'x', type: 'gcp' })).toThrow(CloudConfigError);
    expect(() => new GcpProvider({ name: 'x', type: 'gcp' })).toThrow(/spec.project/);
    expect(
      () => new GcpProvider({ ...cloud, credentials: { serviceAccountKey: '{"type": "service_account",' } }),
    ).toThrow(/credentials.serviceAccountKey/);
    expect(() => new GcpProvider({ ...cloud, credentials: { serviceAccountKey: '{}' } })).toThrow(
      /credentials.serviceAccountKey/,
    );

    const { sourceImage: _, ...noImage } = cloud.options ?? {};
    const bad = [
      [gcp({ ...cloud, options: noImage }).createInstance(spec), /spec.options.sourceImage/],
      [gcp().createInstance({ ...spec, name: '1-web' }), /node name "1-web"/],
      [gcp().createInstance({ ...spec, pool: 'web.pool' }), /pool name "web.pool"/],
      [gcp().listInstances({ cluster: 'prod" OR labels.x = "y', cloud: CLOUD }), /cluster name/],
      [gcp().listInstances({ cluster: 'prod', cloud: CLOUD, pool: 'Web' }), /pool name "Web"/],
    ] as const;
    for (const [call, message] of bad) {
      await expect(call).rejects.toBeInstanceOf(CloudConfigError);
      await expect(call).rejects.toThrow(message);
    }
    // The image may come from the NodePool instead.
    await expect(
      gcp({ ...cloud, options: noImage }).createInstance({ ...spec, image: 'projects/p/global/images/ferry-node' }),
    ).resolves.toMatchObject({ state: 'running' });
    expect(gce.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/instances'))).toHaveLength(1);
  });
});

describe('gcp load balancers (target pool and forwarding rule, against the fake REST API)', () => {
  const service: LoadBalancerService = {
    cluster: 'prod',
    namespace: 'default',
    name: 'web',
    uid: 'svc-uid-1',
    ports: [
      { port: 80, nodePort: 30080, protocol: 'TCP' },
      { port: 443, nodePort: 30443, protocol: 'TCP' },
    ],
  };
  const nodesOf = (...names: [string, boolean][]) =>
    names.map(([name, ready]) => ({ name, address: '10.132.0.9', ready }));
  const regionPath = `${BASE}/regions/europe-west1`;

  it('makes a target pool of the Ready nodes and a labelled TCP forwarding rule on the node ports, and answers its IP', async () => {
    for (const name of ['web-pool-aaaaa', 'web-pool-bbbbb', 'web-pool-ccccc'])
      await gcp().createInstance({ ...spec, name, zone: 'europe-west1-b' });
    gce.requests.length = 0;

    const ingress = await gcp().ensureLoadBalancer(
      service,
      nodesOf(['web-pool-aaaaa', true], ['web-pool-bbbbb', true], ['web-pool-ccccc', false]),
    );

    expect(ingress).toEqual({
      ip: expect.stringMatching(/^34\.76\.0\.\d+$/),
      ports: [
        { port: 30080, protocol: 'TCP' },
        { port: 30443, protocol: 'TCP' },
      ],
    });
    const posts = gce.requests.filter(
      (r) => r.method === 'POST' && r.path.startsWith(regionPath) && !r.path.endsWith('/wait'),
    );
    expect(posts.map((r) => r.path.slice(regionPath.length))).toEqual(['/targetPools', '/forwardingRules']);
    for (const r of posts) expect(r.query.get('requestId')).toMatch(/^[0-9a-f-]{36}$/);
    const [pool, rule] = posts.map((r) => r.body as Json);
    expect(pool?.name).toMatch(/^ferry-[0-9a-f]{20}$/);
    expect(((pool?.instances ?? []) as string[]).map((u) => u.split('/instances/')[1])).toEqual([
      'web-pool-aaaaa',
      'web-pool-bbbbb',
    ]);
    expect(rule).toMatchObject({
      name: pool?.name,
      IPProtocol: 'TCP',
      ports: ['30080', '30443'],
      loadBalancingScheme: 'EXTERNAL',
      target: expect.stringContaining(`/regions/europe-west1/targetPools/${pool?.name}`),
      labels: { 'ferry-cluster': 'prod', 'ferry-service': 'default_web', 'ferry-service-uid': 'svc-uid-1' },
    });
    // Each insert waited for its region operation.
    expect(gce.requests.filter((r) => r.path.includes('/regions/europe-west1/operations/'))).toHaveLength(2);
  });

  it('is idempotent and follows the nodes: a second ensure creates nothing and only changes the pool members', async () => {
    for (const name of ['web-pool-aaaaa', 'web-pool-bbbbb'])
      await gcp().createInstance({ ...spec, name, zone: 'europe-west1-b' });
    const first = await gcp().ensureLoadBalancer(service, nodesOf(['web-pool-aaaaa', true]));
    gce.requests.length = 0;

    const second = await gcp().ensureLoadBalancer(
      service,
      nodesOf(['web-pool-aaaaa', false], ['web-pool-bbbbb', true]),
    );

    expect(second.ip).toBe(first.ip);
    const posts = gce.requests
      .filter((r) => r.method === 'POST' && !r.path.endsWith('/wait'))
      .map((r) => r.path.split('/').pop());
    expect(posts).toEqual(['addInstance', 'removeInstance']);
    const [pool] = [...gce.targetPools.values()];
    expect(pool?.instances.map((u) => u.split('/instances/')[1])).toEqual(['web-pool-bbbbb']);
    expect(gce.forwardingRules.size).toBe(1);
  });

  it('deletes the forwarding rule, then the pool; deleting again is not an error', async () => {
    await gcp().ensureLoadBalancer(service, []);
    await gcp().deleteLoadBalancer(service);

    expect(gce.forwardingRules.size).toBe(0);
    expect(gce.targetPools.size).toBe(0);
    await expect(gcp().deleteLoadBalancer(service)).resolves.toBeUndefined();
  });

  it('needs the region, and refuses UDP ports', async () => {
    await expect(gcp({ ...cloud, region: undefined }).ensureLoadBalancer(service, [])).rejects.toThrow(/spec.region/);
    await expect(
      gcp().ensureLoadBalancer({ ...service, ports: [{ port: 53, nodePort: 30053, protocol: 'UDP' }] }, []),
    ).rejects.toBeInstanceOf(NotSupportedError);
  });
});
