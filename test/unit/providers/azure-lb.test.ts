/**
 * The azure provider's load balancers against @azure/arm-network, through a fake ARM server on
 * 127.0.0.1 that serves public IP addresses and load balancers the way the REST reference
 * documents them: a PUT answers 201 (200 on update) with the resource and `provisioningState:
 * Succeeded` (a terminal state, so the SDK's poller is done at once), a DELETE 200 or, when the
 * resource is already gone, 204; every request must carry an api-version. The wire bodies are the
 * SDK's nested `properties` form of the flattened models the adapter passes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AzureProvider } from '../../../providers/azure';
import { CloudApiError, type CloudConfig, CloudConfigError, type LoadBalancerService } from '../../../providers/types';

type Json = Record<string, unknown>;
const SUB = '00000000-0000-0000-0000-00000000f322';
const RG = 'ferry-nodes';
const NET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network`;
const VNET = `/subscriptions/${SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/ferry`;

const arm = {
  resources: new Map<string, Json>(),
  requests: [] as { method: string; path: string; body: Json | undefined }[],
  /** Answer every PUT with this ARM error instead (status, code). */
  refuse: undefined as [number, string] | undefined,
  nextIp: 10,
  base: '',
};

function send(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
  const url = new URL(req.url ?? '/', arm.base);
  const body = raw ? (JSON.parse(raw) as Json) : undefined;
  arm.requests.push({ method: req.method ?? '', path: url.pathname, body });
  if (!url.searchParams.get('api-version'))
    return send(res, 400, { error: { code: 'MissingApiVersionParameter', message: 'api-version is required' } });
  const m = /^(.*\/Microsoft\.Network\/(publicIPAddresses|loadBalancers))\/([^/]+)$/.exec(url.pathname);
  if (!m) return send(res, 404, { error: { code: 'NotFound', message: url.pathname } });
  const [, , type, name] = m as unknown as [string, string, string, string];
  const existing = arm.resources.get(url.pathname);
  if (req.method === 'GET')
    return existing
      ? send(res, 200, existing)
      : send(res, 404, { error: { code: 'ResourceNotFound', message: `${type}/${name} was not found` } });
  if (req.method === 'DELETE') {
    arm.resources.delete(url.pathname);
    return send(res, existing ? 200 : 204);
  }
  if (req.method === 'PUT') {
    if (arm.refuse) return send(res, arm.refuse[0], { error: { code: arm.refuse[1], message: 'refused by the fake' } });
    const props = (body?.properties ?? {}) as Json;
    const made: Json = {
      ...body,
      id: url.pathname,
      name,
      type: `Microsoft.Network/${type}`,
      properties: {
        ...props,
        provisioningState: 'Succeeded',
        ...(type === 'publicIPAddresses'
          ? { ipAddress: (existing?.properties as Json | undefined)?.ipAddress ?? `20.50.0.${arm.nextIp++}` }
          : {}),
      },
    };
    arm.resources.set(url.pathname, made);
    return send(res, existing ? 200 : 201, made);
  }
  send(res, 405, { error: { code: 'MethodNotAllowed', message: req.method } });
}

let server: Server;
beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  arm.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  arm.resources.clear();
  arm.requests.length = 0;
  arm.refuse = undefined;
});

const cloud: CloudConfig = {
  name: 'azure-we',
  type: 'azure',
  subscriptionId: SUB,
  resourceGroup: RG,
  region: 'westeurope',
  options: { subnetIds: { '1': `${VNET}/subnets/zone-1` } },
};
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
const nodes = [
  { name: 'web-a', address: '10.1.0.4', ready: true },
  { name: 'web-b', address: '10.1.0.5', ready: true },
  { name: 'web-c', address: '10.1.0.6', ready: false },
];
const fakeCredential = { getToken: async () => ({ token: 'fake', expiresOnTimestamp: Date.now() + 3600e3 }) };
const azure = (config: CloudConfig = cloud) =>
  new AzureProvider(config, { endpoint: arm.base, credential: fakeCredential, pollIntervalMs: 1 });
const puts = () => arm.requests.filter((r) => r.method === 'PUT');

describe('azure load balancers (ARM network, against a fake ARM server)', () => {
  it('makes a static Standard public IP and a Standard Load Balancer: the Ready nodes in its pool, a TCP probe on each node port and a rule from each port to it', async () => {
    const ingress = await azure().ensureLoadBalancer(service, nodes);

    expect(ingress).toEqual({
      ip: '20.50.0.10',
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 443, protocol: 'TCP' },
      ],
    });
    const [ip, lb] = puts();
    expect(ip?.path).toMatch(new RegExp(`^${NET}/publicIPAddresses/ferry-[0-9a-f]{20}-ip$`));
    expect(ip?.body).toMatchObject({
      location: 'westeurope',
      sku: { name: 'Standard', tier: 'Regional' },
      tags: { 'ferry-cluster': 'prod', 'ferry-service': 'default/web', 'ferry-service-uid': 'svc-uid-1' },
      properties: { publicIPAllocationMethod: 'Static', publicIPAddressVersion: 'IPv4' },
    });
    expect(lb?.path).toMatch(new RegExp(`^${NET}/loadBalancers/ferry-[0-9a-f]{20}$`));
    const lbId = lb?.path as string;
    const props = ((lb?.body ?? {}) as { properties: Json }).properties;
    expect(lb?.body).toMatchObject({ sku: { name: 'Standard' }, tags: { 'ferry-service': 'default/web' } });
    expect(props.frontendIPConfigurations).toEqual([
      { name: 'frontend', properties: { publicIPAddress: { id: ip?.path } } },
    ]);
    expect(props.backendAddressPools).toEqual([
      {
        name: 'nodes',
        properties: {
          loadBalancerBackendAddresses: [
            { name: 'web-a', properties: { ipAddress: '10.1.0.4', virtualNetwork: { id: VNET } } },
            { name: 'web-b', properties: { ipAddress: '10.1.0.5', virtualNetwork: { id: VNET } } },
          ],
        },
      },
    ]);
    expect(props.probes).toEqual([
      {
        name: 'node-port-30080',
        properties: { protocol: 'Tcp', port: 30080, intervalInSeconds: 5, numberOfProbes: 2 },
      },
      {
        name: 'node-port-30443',
        properties: { protocol: 'Tcp', port: 30443, intervalInSeconds: 5, numberOfProbes: 2 },
      },
    ]);
    expect((props.loadBalancingRules as Json[])[0]).toEqual({
      name: 'port-80',
      properties: {
        protocol: 'Tcp',
        frontendPort: 80,
        backendPort: 30080,
        frontendIPConfiguration: { id: `${lbId}/frontendIPConfigurations/frontend` },
        backendAddressPool: { id: `${lbId}/backendAddressPools/nodes` },
        probe: { id: `${lbId}/probes/node-port-30080` },
        idleTimeoutInMinutes: 4,
        enableFloatingIP: false,
        disableOutboundSnat: true,
      },
    });
  });

  it('is idempotent: ensuring again puts the same resources by name and keeps the address', async () => {
    const first = await azure().ensureLoadBalancer(service, nodes);
    const second = await azure().ensureLoadBalancer(service, nodes.slice(1));

    expect(second.ip).toBe(first.ip);
    expect(arm.resources.size).toBe(2);
    const lb = [...arm.resources.values()].find((r) => r.type === 'Microsoft.Network/loadBalancers') as {
      properties: { backendAddressPools: { properties: { loadBalancerBackendAddresses: { name: string }[] } }[] };
    };
    expect(lb.properties.backendAddressPools[0]?.properties.loadBalancerBackendAddresses.map((a) => a.name)).toEqual([
      'web-b',
    ]);
  });

  it('deletes the load balancer, then its IP; deleting again is not an error', async () => {
    await azure().ensureLoadBalancer(service, nodes);
    await azure().deleteLoadBalancer(service);

    expect(arm.resources.size).toBe(0);
    expect(arm.requests.filter((r) => r.method === 'DELETE').map((r) => r.path.split('/').at(-2))).toEqual([
      'loadBalancers',
      'publicIPAddresses',
    ]);
    await expect(azure().deleteLoadBalancer(service)).resolves.toBeUndefined();
  });

  it('needs a virtual network, and turns a refused PUT into a CloudApiError carrying the SDK error', async () => {
    await expect(azure({ ...cloud, options: {} }).ensureLoadBalancer(service, nodes)).rejects.toBeInstanceOf(
      CloudConfigError,
    );
    arm.refuse = [403, 'AuthorizationFailed'];
    const err = await azure()
      .ensureLoadBalancer(service, nodes)
      .catch((e) => e);
    expect(err).toBeInstanceOf(CloudApiError);
    expect(err.message).toMatch(/^azure: load balancer of default\/web: AuthorizationFailed: /);
    expect(err.cause).toBeDefined();
  });
});
