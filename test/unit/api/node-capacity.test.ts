import { beforeEach, describe, expect, it } from 'vitest';
import { MEMORY_SLACK } from '../../../functions/api/node-identity';
import { startApi, type TestApi } from './harness';

/**
 * Registration of a NodePool machine (issue 18, finding 3): its bootstrap token carries what the
 * cloud says the machine is, and the node may not claim more cpu or memory than that, in capacity
 * or allocatable. Without it (a hand-issued token), only the general bounds apply.
 */
const REGISTER = '/agent/v1/register';
const GIB = 2 ** 30;
/** An m5.large, as EC2's DescribeInstanceTypes reports it: 2 vCPUs, 8192 MiB. */
const MACHINE = { cpu: 2, memory: 8 * GIB };

describe('claimed capacity of a NodePool machine', () => {
  let api: TestApi;
  const machineToken = (maxUses = 1) =>
    api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses, expectedCapacity: MACHINE });
  const register = (token: string, nodeName: string, status: unknown) =>
    api.send('POST', REGISTER, { token, body: { nodeName, status } });

  beforeEach(async () => {
    api = await startApi();
  });

  it('refuses a node claiming more CPUs than its machine has with 422 naming the field, and stores nothing', async () => {
    // prepare
    const token = await machineToken();
    const before = await api.snapshot();

    // act
    const res = await register(token, 'n1', { capacity: { cpu: '64', memory: '7Gi', pods: '110' } });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.reason).toBe('Invalid');
    expect(res.json.details?.causes).toEqual([
      expect.objectContaining({ field: 'status.capacity.cpu', reason: 'FieldValueInvalid' }),
    ]);
    expect(String(res.json.message)).toMatch(/status\.capacity\.cpu: Invalid value: "64"/);
    expect(await api.snapshot()).toBe(before); // not even the token's use is spent
  });

  it('refuses memory above the nominal plus the slack, in capacity or allocatable', async () => {
    // prepare
    const token = await machineToken(3);
    const over = Math.ceil(MACHINE.memory * (1 + MEMORY_SLACK)) + 1024;

    // act
    const capacity = await register(token, 'm1', { capacity: { cpu: '2', memory: `${over}` } });
    const allocatable = await register(token, 'm2', {
      capacity: { cpu: '2', memory: '7800Mi' },
      allocatable: { cpu: '2', memory: '16Gi' },
    });
    const millicores = await register(token, 'm3', { capacity: { cpu: '2001m', memory: '7800Mi' } });

    // assess
    expect(capacity.status).toBe(422);
    expect(capacity.json.details?.causes?.[0]?.field).toBe('status.capacity.memory');
    expect(allocatable.status).toBe(422);
    expect(allocatable.json.details?.causes?.map((c: { field?: string }) => c.field)).toEqual([
      'status.allocatable.memory',
    ]);
    expect(millicores.status).toBe(422);
    expect(await api.store.get({ kind: 'Node', name: 'm1' })).toBeUndefined();
  });

  it('accepts a node reporting its machine truly, the kernel counting a little less memory than nominal', async () => {
    // prepare
    const token = await machineToken();
    // What the agent reports on an m5.large: 2 CPUs and MemTotal, about 7.6 GiB.
    const status = { capacity: { cpu: '2', memory: '7974532Ki', pods: '110' } };

    // act
    const res = await register(token, 'n1', { ...status, allocatable: status.capacity });

    // assess
    expect(res.status).toBe(200);
    expect((await api.store.get({ kind: 'Node', name: 'n1' }))?.status).toMatchObject(status);
  });

  it('accepts memory within the slack above nominal (a size listed in MB, counted in MiB)', async () => {
    const res = await register(await machineToken(), 'n1', {
      capacity: { cpu: '2', memory: `${Math.floor(MACHINE.memory * (1 + MEMORY_SLACK / 2))}` },
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['a negative cpu', { cpu: '-6', memory: '4Gi' }, 'status.capacity.cpu'],
    ['a huge cpu', { cpu: '1e309', memory: '4Gi' }, 'status.capacity.cpu'],
    ['a non-numeric memory', { cpu: '2', memory: 'lots' }, 'status.capacity.memory'],
    ['a JSON number far beyond the machine', { cpu: 2, memory: 2 ** 60 }, 'status.capacity.memory'],
  ])('still refuses %s with 422 and stores nothing', async (_what, capacity, field) => {
    // prepare
    const token = await machineToken();
    const before = await api.snapshot();

    // act
    const res = await register(token, 'h1', { capacity });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c: { field?: string }) => c.field)).toContain(field);
    expect(await api.snapshot()).toBe(before);
  });

  it('holds a node without a machine size in its token only to the general bounds', async () => {
    // prepare
    const token = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

    // act
    const res = await register(token, 'n1', { capacity: { cpu: '64', memory: '256Gi', pods: '110' } });

    // assess
    expect(res.status).toBe(200);
  });

  it('refuses a claim that is not a quantity from a node without a machine size too (the scheduler could not read it)', async () => {
    // prepare
    const token = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

    // act
    const res = await register(token, 'n1', { capacity: { cpu: '2', memory: '4Gi', 'example.com/gpu': 'many' } });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('status.capacity.example.com/gpu');
    expect(await api.store.get({ kind: 'Node', name: 'n1' })).toBeUndefined();
  });

  describe('after registering', () => {
    let nodeToken: string;
    const SYNC = '/agent/v1/sync';
    const MERGE = 'application/merge-patch+json';

    beforeEach(async () => {
      const res = await register(await machineToken(), 'n1', { capacity: { cpu: '2', memory: '7Gi', pods: '110' } });
      nodeToken = String(res.json.token);
    });

    it('records the machine size on the Node in a server-owned annotation', async () => {
      const node = await api.store.get({ kind: 'Node', name: 'n1' });
      expect(JSON.parse(node?.metadata.annotations?.['ferry.dev/machine-capacity'] ?? '{}')).toEqual(MACHINE);
    });

    it('refuses a sync inflating the capacity beyond the machine (within the general bounds) and keeps the status', async () => {
      // prepare
      const before = await api.store.get({ kind: 'Node', name: 'n1' });

      // act
      const res = await api.send('POST', SYNC, {
        token: nodeToken,
        body: { nodeStatus: { capacity: { cpu: '64', memory: '7Gi', pods: '110' } } },
      });

      // assess
      expect(res.status).toBe(422);
      expect(res.json.details?.causes?.[0]?.field).toBe('nodeStatus.capacity.cpu');
      expect(await api.store.get({ kind: 'Node', name: 'n1' })).toEqual(before);
    });

    it('refuses a status patch inflating the memory, and the node removing the annotation', async () => {
      // act
      const status = await api.send('PATCH', '/api/v1/nodes/n1/status', {
        token: nodeToken,
        contentType: MERGE,
        body: { status: { capacity: { memory: '64Gi' } } },
      });
      const annotation = await api.send('PATCH', '/api/v1/nodes/n1', {
        token: nodeToken,
        contentType: MERGE,
        body: { metadata: { annotations: { 'ferry.dev/machine-capacity': null } } },
      });

      // assess
      expect(status.status).toBe(422);
      expect(status.json.details?.causes?.[0]?.field).toBe('status.capacity.memory');
      expect(annotation.status).toBe(403);
    });

    it('holds a re-registration with the node credential to the machine too, and lets a true one through', async () => {
      // act
      const inflated = await register(nodeToken, 'n1', { capacity: { cpu: '8', memory: '7Gi' } });
      const honest = await register(nodeToken, 'n1', { capacity: { cpu: '2', memory: '7Gi' } });

      // assess
      expect(inflated.status).toBe(422);
      expect(inflated.json.details?.causes?.[0]?.field).toBe('status.capacity.cpu');
      expect(honest.status).toBe(200);
    });
  });
});
