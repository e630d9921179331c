import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeInstanceTypesCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsProvider } from '../../../providers/aws';
import { AzureProvider } from '../../../providers/azure';
import { GcpProvider } from '../../../providers/gcp';
import { LocalProvider } from '../../../providers/local';
import { MachineCatalogue } from '../../../providers/machine-capacity';

/**
 * Each adapter's `machineCapacity`: what the cloud's catalogue says an instance type is, in the
 * SDK's documented shapes (EC2 DescribeInstanceTypes mocked at the client; Compute Engine
 * machineTypes.get and ARM's location vmSizes served by fakes on 127.0.0.1), cached per type, and
 * "unknown" (never an exception) when the lookup fails.
 */
const GIB = 2 ** 30;

describe('the machine catalogue cache', () => {
  it('asks once per type and believes only positive whole numbers', async () => {
    const asked: string[] = [];
    const answers: Record<string, { cpu: unknown; memoryMiB: unknown }> = {
      good: { cpu: 4, memoryMiB: 16384 },
      zero: { cpu: 0, memoryMiB: 1024 },
      negative: { cpu: 2, memoryMiB: -1 },
      text: { cpu: '8', memoryMiB: 1024 },
      fraction: { cpu: 1.5, memoryMiB: 1024 },
    };
    const catalogue = new MachineCatalogue(async (type) => {
      asked.push(type);
      return answers[type];
    });
    expect(await catalogue.get('good', 'z')).toEqual({ cpu: 4, memory: 16 * GIB });
    expect(await catalogue.get('good', 'other-zone')).toEqual({ cpu: 4, memory: 16 * GIB });
    for (const bad of ['zero', 'negative', 'text', 'fraction', 'missing'])
      expect(await catalogue.get(bad, 'z')).toBe(undefined);
    expect(asked.filter((t) => t === 'good')).toHaveLength(1);
  });

  it('answers unknown when the lookup throws, and asks again next time', async () => {
    let calls = 0;
    const catalogue = new MachineCatalogue(async () => {
      calls++;
      if (calls === 1) throw new Error('throttled');
      return { cpu: 2, memoryMiB: 4096 };
    });
    expect(await catalogue.get('t', 'z')).toBe(undefined);
    expect(await catalogue.get('t', 'z')).toEqual({ cpu: 2, memory: 4 * GIB });
  });
});

describe('aws machineCapacity (DescribeInstanceTypes, SDK mocked at the client)', () => {
  const ec2 = mockClient(EC2Client);
  beforeEach(() => ec2.reset());
  const aws = () => new AwsProvider({ name: 'aws-eu', type: 'aws', region: 'eu-west-1' });

  it('reads VCpuInfo.DefaultVCpus and MemoryInfo.SizeInMiB of the type, once', async () => {
    ec2.on(DescribeInstanceTypesCommand, { InstanceTypes: ['m5.large'] }).resolves({
      InstanceTypes: [{ InstanceType: 'm5.large', VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 8192 } }],
    });
    const provider = aws();
    expect(await provider.machineCapacity('m5.large', 'eu-west-1a')).toEqual({ cpu: 2, memory: 8 * GIB });
    expect(await provider.machineCapacity('m5.large', 'eu-west-1b')).toEqual({ cpu: 2, memory: 8 * GIB });
    expect(ec2.commandCalls(DescribeInstanceTypesCommand)).toHaveLength(1);
  });

  it('answers unknown when EC2 refuses the call or does not list the type', async () => {
    ec2
      .on(DescribeInstanceTypesCommand, { InstanceTypes: ['x9.huge' as never] })
      .rejects(
        new EC2ServiceException({ name: 'InvalidInstanceType', message: 'no', $fault: 'client', $metadata: {} }),
      );
    ec2.on(DescribeInstanceTypesCommand, { InstanceTypes: ['m5.large'] }).resolves({ InstanceTypes: [] });
    const provider = aws();
    expect(await provider.machineCapacity('x9.huge', 'eu-west-1a')).toBe(undefined);
    expect(await provider.machineCapacity('m5.large', 'eu-west-1a')).toBe(undefined);
  });
});

/** A fake HTTP API on 127.0.0.1: `route` answers [status, body] and every path asked is recorded. */
function fakeApi(route: (method: string, url: URL, auth: string | undefined) => [number, unknown]) {
  const api = { server: undefined as Server | undefined, port: 0, paths: [] as string[] };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      api.paths.push(url.pathname);
      const [status, body] = route(req.method ?? '', url, req.headers.authorization);
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(body));
    });
  };
  beforeAll(async () => {
    api.server = createServer(handle);
    await new Promise<void>((resolve) => api.server?.listen(0, '127.0.0.1', resolve));
    api.port = (api.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => api.server?.close(() => resolve()));
  });
  beforeEach(() => {
    api.paths.length = 0;
  });
  return api;
}

describe('gcp machineCapacity (machineTypes.get on a fake Compute Engine API)', () => {
  const PROJECT = 'ferry-test-1';
  const api = fakeApi((method, url, auth) => {
    const m = url.pathname.match(new RegExp(`^/compute/v1/projects/${PROJECT}/zones/([^/]+)/machineTypes/([^/]+)$`));
    if (auth !== 'Bearer fake-token') return [401, { error: { code: 401, message: 'unauthenticated' } }];
    if (method === 'GET' && m?.[2] === 'e2-standard-4')
      return [200, { kind: 'compute#machineType', name: 'e2-standard-4', guestCpus: 4, memoryMb: 16384, zone: m[1] }];
    return [
      404,
      { error: { code: 404, message: 'not found', errors: [{ reason: 'notFound', message: 'not found' }] } },
    ];
  });
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'fake-token' });
  const gcp = () =>
    new GcpProvider(
      { name: 'gcp-eu', type: 'gcp', project: PROJECT },
      { apiEndpoint: '127.0.0.1', port: api.port, protocol: 'http', authClient },
    );

  it('reads guestCpus and memoryMb of the type in the machine zone, once', async () => {
    const provider = gcp();
    expect(await provider.machineCapacity('e2-standard-4', 'europe-west1-b')).toEqual({ cpu: 4, memory: 16 * GIB });
    expect(await provider.machineCapacity('e2-standard-4', 'europe-west1-c')).toEqual({ cpu: 4, memory: 16 * GIB });
    expect(api.paths).toEqual([`/compute/v1/projects/${PROJECT}/zones/europe-west1-b/machineTypes/e2-standard-4`]);
  });

  it('answers unknown for a type Compute Engine does not have', async () => {
    expect(await gcp().machineCapacity('n9-imaginary-512', 'europe-west1-b')).toBe(undefined);
  });
});

describe('azure machineCapacity (the location vmSizes on a fake ARM)', () => {
  const SUB = '00000000-0000-0000-0000-00000000f322';
  let failing = false;
  const api = fakeApi((method, url) => {
    if (failing) return [403, { error: { code: 'AuthorizationFailed', message: 'no read on vmSizes' } }];
    const path = `/subscriptions/${SUB}/providers/Microsoft.Compute/locations/westeurope/vmSizes`;
    if (method !== 'GET' || url.pathname !== path || !url.searchParams.get('api-version'))
      return [404, { error: { code: 'NotFound', message: url.pathname } }];
    return [
      200,
      {
        value: [
          { name: 'Standard_B2s', numberOfCores: 2, memoryInMB: 4096, maxDataDiskCount: 4 },
          { name: 'Standard_D4s_v5', numberOfCores: 4, memoryInMB: 16384, maxDataDiskCount: 8 },
        ],
      },
    ];
  });
  beforeEach(() => {
    failing = false;
  });
  const credential = { getToken: async () => ({ token: 'fake', expiresOnTimestamp: Date.now() + 3600e3 }) };
  const azure = () =>
    new AzureProvider(
      { name: 'az', type: 'azure', subscriptionId: SUB, resourceGroup: 'ferry-nodes', region: 'westeurope' },
      { endpoint: `http://127.0.0.1:${api.port}`, credential, pollIntervalMs: 1 },
    );

  it('reads numberOfCores and memoryInMB of the size, once', async () => {
    const provider = azure();
    expect(await provider.machineCapacity('Standard_D4s_v5', '1')).toEqual({ cpu: 4, memory: 16 * GIB });
    expect(await provider.machineCapacity('Standard_D4s_v5', '2')).toEqual({ cpu: 4, memory: 16 * GIB });
    expect(api.paths).toHaveLength(1);
  });

  it('answers unknown for a size the location does not list, or when ARM refuses the call', async () => {
    expect(await azure().machineCapacity('Standard_Imaginary', '1')).toBe(undefined);
    failing = true;
    expect(await azure().machineCapacity('Standard_B2s', '1')).toBe(undefined);
  });
});

describe('local machineCapacity', () => {
  it('is what the agents are started with', async () => {
    const local = new LocalProvider({
      dataDir: '/nonexistent',
      agentCommand: ['x'],
      cpuPerNode: '2',
      memoryPerNode: '4Gi',
    });
    expect(await local.forCloud('here').machineCapacity?.('any', 'local')).toEqual({ cpu: 2, memory: 4 * GIB });
  });

  it('answers unknown when a setting is not a quantity', async () => {
    const local = new LocalProvider({ dataDir: '/nonexistent', agentCommand: ['x'], cpuPerNode: 'lots' });
    expect(await local.machineCapacity()).toBe(undefined);
  });
});
