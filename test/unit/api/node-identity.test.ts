import { beforeEach, describe, expect, it } from 'vitest';
import { issueToken } from '../../../functions/tokens';
import { startApi, type TestApi } from './harness';

const REGISTER = '/agent/v1/register';
const SYNC = '/agent/v1/sync';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
const STATUS = { capacity: { cpu: '2', memory: '4Gi', pods: '110' } };
const MERGE = 'application/merge-patch+json';

describe('node identity (issue 18, findings 3, 8 and 9)', () => {
  let api: TestApi;

  const register = (token: string, nodeName: string, extra: Record<string, unknown> = {}) =>
    api.send('POST', REGISTER, { token, body: { nodeName, status: STATUS, ...extra } });

  beforeEach(async () => {
    api = await startApi();
  });

  describe('the labels a node carries', () => {
    it('gets kubernetes.io/hostname, os and arch as the kubelet sets them, so nodeSelector os=linux matches', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
      const status = { ...STATUS, nodeInfo: { operatingSystem: 'linux', architecture: 'x64' } };

      // act
      const res = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status } });
      const node = await api.send('GET', '/api/v1/nodes/n1');

      // assess
      expect(res.status).toBe(200);
      expect(node.json.metadata?.labels).toMatchObject({
        'kubernetes.io/hostname': 'n1',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
      });
    });
  });

  describe('bootstrap tokens', () => {
    it('registers one node with a bootstrap token, then the token is spent', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

      // act
      const first = await register(bootstrap, 'n1');
      const second = await register(bootstrap, 'n2');

      // assess
      expect(first.status).toBe(200);
      expect(second.status).toBe(401);
      expect(await api.store.get({ kind: 'Node', name: 'n2' })).toBeUndefined();
    });

    it('registers as many nodes as --max-uses allows and no more', async () => {
      // prepare
      const fleet = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 3 });

      // act
      const statuses = [];
      for (const name of ['a', 'b', 'c', 'd']) statuses.push((await register(fleet, name)).status);

      // assess
      expect(statuses).toEqual([200, 200, 200, 401]);
    });

    it('lets only one of two agents racing on a single-use token register', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

      // act
      const results = await Promise.all(['r1', 'r2', 'r3'].map((n) => register(bootstrap, n)));

      // assess
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect((await api.store.list('Node')).items).toHaveLength(1);
    });

    it('refuses a bootstrap token bound to a node name for any other name', async () => {
      // prepare
      const bound = await api.token({ role: 'bootstrap', ttlSeconds: 600, nodeName: 'web-1' });

      // act
      const other = await register(bound, 'web-2');
      const own = await register(bound, 'web-1');

      // assess
      expect(other.status).toBe(403);
      expect(other.json.message).toMatch(/may register only node "web-1"/);
      expect(own.status).toBe(200);
    });

    it('shows maxUses and uses on the token, and accepts --max-uses and a node name through the API', async () => {
      // act
      const created = await api.send('POST', '/apis/ferry.dev/v1/tokens', {
        body: { spec: { role: 'bootstrap', ttlSeconds: 600, maxUses: 2, nodeName: 'n9' } },
      });
      const tooMany = await api.send('POST', '/apis/ferry.dev/v1/tokens', {
        body: { spec: { role: 'bootstrap', ttlSeconds: 600, maxUses: 0 } },
      });
      const onReader = await api.send('POST', '/apis/ferry.dev/v1/tokens', {
        body: { spec: { role: 'reader', maxUses: 2 } },
      });

      // assess
      expect(created.status).toBe(201);
      expect(created.json.spec).toEqual(expect.objectContaining({ maxUses: 2, nodeName: 'n9' }));
      expect(created.json.status).toEqual(expect.objectContaining({ uses: 0 }));
      expect(tooMany.status).toBe(422);
      expect(onReader.status).toBe(422);
      expect(onReader.json.details?.causes?.[0]?.field).toBe('spec.maxUses');
    });
  });

  describe('re-registration and takeover', () => {
    it('refuses a second bootstrap token re-registering a running node, and the real agent keeps its credential', async () => {
      // prepare
      const fleet = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 10 });
      const real = String((await register(fleet, 'n1')).json.token);

      // act
      const sameToken = await register(fleet, 'n1');
      const otherToken = await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1');
      const sync = await api.send('POST', SYNC, { token: real, body: {} });

      // assess
      expect(sameToken.status).toBe(403);
      expect(otherToken.status).toBe(403);
      expect(sync.status).toBe(200);
    });

    it('refuses to let a bootstrap token claim a Node an admin created', async () => {
      // prepare
      await api.send('POST', '/api/v1/nodes', {
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1' } },
      });
      const before = await api.store.get({ kind: 'Node', name: 'gpu-1' });

      // act
      const claim = await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'gpu-1');

      // assess
      expect(claim.status).toBe(403);
      expect(await api.store.get({ kind: 'Node', name: 'gpu-1' })).toEqual(before);
      expect((await api.store.list('Token')).items.some((t) => t.metadata.name === 'node-gpu-1')).toBe(false);
    });

    it('refuses a bootstrap token a node whose owner annotation its own node deleted', async () => {
      // prepare: finding 8's attack, in two steps
      const nodeToken = String(
        (await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1')).json.token,
      );
      const strip = await api.send('PATCH', '/api/v1/nodes/n1', {
        token: nodeToken,
        contentType: MERGE,
        body: { metadata: { annotations: { 'ferry.dev/registered-by': null } } },
      });

      // act
      const second = await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1');

      // assess
      expect(strip.status).toBe(403);
      expect(second.status).toBe(403);
    });

    it('re-registers a node with its current credential, but not another node with it', async () => {
      // prepare
      const nodeToken = String(
        (await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1')).json.token,
      );
      await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n2');

      // act
      const other = await register(nodeToken, 'n2');
      const own = await register(nodeToken, 'n1');

      // assess
      expect(own.status).toBe(200);
      expect(other.status).toBe(403);
    });

    it('lets an admin re-register any node', async () => {
      // prepare
      await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1');

      // act
      const res = await register(api.admin, 'n1');

      // assess
      expect(res.status).toBe(200);
    });
  });

  describe('claimed capacity', () => {
    it('refuses a registration claiming 100000 CPUs with 422 naming the field, and stores nothing', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
      const before = await api.snapshot();

      // act
      const res = await api.send('POST', REGISTER, {
        token: bootstrap,
        body: { nodeName: 'big', status: { capacity: { cpu: '100000', memory: '4Gi', pods: '110' } } },
      });

      // assess
      expect(res.status).toBe(422);
      expect(res.json.details?.causes?.[0]?.field).toBe('status.capacity.cpu');
      expect(await api.snapshot()).toBe(before);
    });

    it('refuses memory beyond 16Ti and more than 110 pods, in capacity or allocatable', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 2 });

      // act
      const memory = await api.send('POST', REGISTER, {
        token: bootstrap,
        body: { nodeName: 'm', status: { capacity: { cpu: '2', memory: '17Ti' } } },
      });
      const pods = await api.send('POST', REGISTER, {
        token: bootstrap,
        body: { nodeName: 'p', status: { allocatable: { pods: '5000' } } },
      });

      // assess
      expect(memory.status).toBe(422);
      expect(pods.status).toBe(422);
      expect(pods.json.details?.causes?.[0]?.field).toBe('status.allocatable.pods');
    });

    it('refuses a sync whose node status inflates the capacity after registering', async () => {
      // prepare
      const nodeToken = String(
        (await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1')).json.token,
      );

      // act
      const res = await api.send('POST', SYNC, {
        token: nodeToken,
        body: { nodeStatus: { capacity: { cpu: '100000' } } },
      });

      // assess
      expect(res.status).toBe(422);
      expect(res.json.details?.causes?.[0]?.field).toBe('nodeStatus.capacity.cpu');
    });
  });

  describe('what a node may write (NodeRestriction)', () => {
    let nodeToken: string;

    beforeEach(async () => {
      nodeToken = String((await register(await api.token({ role: 'bootstrap', ttlSeconds: 600 }), 'n1')).json.token);
    });

    it.each([
      ['its labels', { metadata: { labels: { 'ferry.dev/pool': 'gpu' } } }],
      ['its taints', { spec: { taints: [] as unknown[] } }],
      ['its unschedulable flag', { spec: { unschedulable: true } }],
      ['the server-owned annotations', { metadata: { annotations: { 'ferry.dev/registered-by': 'someone' } } }],
    ])('refuses a node changing %s', async (_what, patch) => {
      // prepare
      await api.send('PATCH', '/api/v1/nodes/n1', {
        contentType: MERGE,
        body: { spec: { taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] } },
      });
      const before = await api.store.get({ kind: 'Node', name: 'n1' });

      // act
      const res = await api.send('PATCH', '/api/v1/nodes/n1', { token: nodeToken, contentType: MERGE, body: patch });

      // assess
      expect(res.status).toBe(403);
      expect(await api.store.get({ kind: 'Node', name: 'n1' })).toEqual(before);
    });

    it('lets a node write its own status and its other annotations', async () => {
      // act
      const status = await api.send('PATCH', '/api/v1/nodes/n1/status', {
        token: nodeToken,
        contentType: MERGE,
        body: { status: { capacity: { cpu: '4' } } },
      });
      const annotation = await api.send('PATCH', '/api/v1/nodes/n1', {
        token: nodeToken,
        contentType: MERGE,
        body: { metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': '0' } } },
      });

      // assess
      expect(status.status).toBe(200);
      expect(annotation.status).toBe(200);
    });

    it("refuses a node creating another node's Lease", async () => {
      // act
      const res = await api.send('POST', LEASES, {
        token: nodeToken,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'n2' },
          spec: { holderIdentity: 'n2', renewTime: new Date(api.now.ms).toISOString() },
        },
      });

      // assess
      expect(res.status).toBe(403);
      expect(await api.store.get({ kind: 'Lease', namespace: 'kube-node-lease', name: 'n2' })).toBeUndefined();
    });

    it('refuses a Lease renewTime an hour ahead of the server, but takes one within the skew', async () => {
      // prepare
      const lease = (renewTime: string) => ({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'n1', namespace: 'kube-node-lease' },
        spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, renewTime },
      });
      await api.store.delete({ kind: 'Lease', namespace: 'kube-node-lease', name: 'n1' }).catch(() => undefined);

      // act
      const ahead = await api.send('POST', LEASES, {
        token: nodeToken,
        body: lease(new Date(api.now.ms + 3_600_000).toISOString()),
      });
      const fine = await api.send('POST', LEASES, {
        token: nodeToken,
        body: lease(new Date(api.now.ms + 1_000).toISOString()),
      });

      // assess
      expect(ahead.status).toBe(422);
      expect(ahead.json.details?.causes?.[0]?.field).toBe('spec.renewTime');
      expect(fine.status).toBe(201);
    });
  });

  describe('labels at registration', () => {
    it('refuses an agent claiming labels its pool or an admin sets', async () => {
      // prepare
      const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

      // act
      const res = await register(bootstrap, 'n1', { labels: { 'ferry.dev/pool': 'gpu', zone: 'a' } });

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toMatch(/labels\.ferry\.dev\/pool/);
      expect(await api.store.get({ kind: 'Node', name: 'n1' })).toBeUndefined();
    });

    it("gives a pool's machine the labels its bootstrap token carries", async () => {
      // prepare
      const { token } = await issueToken(api.deps, {
        role: 'bootstrap',
        ttlSeconds: 600,
        nodeName: 'pool-a-1',
        nodeLabels: { 'ferry.dev/pool': 'pool-a', 'topology.kubernetes.io/zone': 'z1' },
      });

      // act
      const same = await register(token, 'pool-a-1', { labels: { 'ferry.dev/pool': 'pool-a', app: 'x' } });

      // assess
      expect(same.status).toBe(200);
      const node = await api.store.get({ kind: 'Node', name: 'pool-a-1' });
      expect(node?.metadata.labels).toEqual({
        'ferry.dev/pool': 'pool-a',
        'topology.kubernetes.io/zone': 'z1',
        app: 'x',
        'kubernetes.io/hostname': 'pool-a-1',
        'kubernetes.io/os': 'linux',
      });
    });
  });
});
