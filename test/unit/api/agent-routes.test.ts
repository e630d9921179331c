import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileEndpoints } from '../../../functions/controllers/endpoints';
import { configMap, pod, type Sent, secret, startApi, type TestApi } from './harness';

const REGISTER = '/agent/v1/register';
const SYNC = '/agent/v1/sync';
const STATUS = {
  capacity: { cpu: '2', memory: '4Gi', pods: '110' },
  addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
};

describe('agent routes', () => {
  let api: TestApi;
  let bootstrap: string;

  /** A sync that reports nothing new, so the server holds it until something changes (up to 5 s). */
  const heldSync = (token: string, previous: Sent) =>
    api.send('POST', SYNC, {
      token,
      body: { versions: previous.json.versions, leaseRenewedAt: previous.json.leaseRenewedAt, waitSeconds: 5 },
    });
  /** The endpoints controller's pass, which publishes the route records syncs read. */
  const publishRoutes = () => reconcileEndpoints(api.deps);

  beforeEach(async () => {
    api = await startApi();
    bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
  });

  it('registers a node with a bootstrap token and returns a node token', async () => {
    // act
    const res = await api.send('POST', REGISTER, {
      token: bootstrap,
      body: { nodeName: 'n1', labels: { zone: 'a' }, status: STATUS },
    });

    // assess
    expect(res.status).toBe(200);
    expect(res.json.nodeName).toBe('n1');
    expect(String(res.json.token)).toMatch(/^ferry_node-n1_/);
    const stored = await api.store.get({ kind: 'Node', name: 'n1' });
    expect(stored?.metadata.labels).toEqual({ zone: 'a', 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux' });
    expect(stored?.status).toEqual(expect.objectContaining({ addresses: STATUS.addresses }));
  });

  it('refuses to let any bootstrap token take over a registered node, its own included', async () => {
    // prepare
    const fleet = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 5 });
    await api.send('POST', REGISTER, { token: fleet, body: { nodeName: 'n1', status: STATUS } });
    const other = await api.token({ role: 'bootstrap', ttlSeconds: 600 });

    // act
    const hijack = await api.send('POST', REGISTER, { token: other, body: { nodeName: 'n1', status: STATUS } });
    const again = await api.send('POST', REGISTER, { token: fleet, body: { nodeName: 'n1', status: STATUS } });

    // assess
    expect(hijack.status).toBe(403);
    expect(hijack.json.message).toMatch(/already registered.*current credential or an admin/);
    expect(again.status).toBe(403);
  });

  it('gives a registration retried after its answer was lost the credential, once, and only before the node synced', async () => {
    // prepare: a single-use token's registration lands, its answer never reaches the agent
    const once = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const registrationId = 'aaaaaaaaaaaaaaaaaaaaaa';
    const body = { nodeName: 'n1', status: STATUS, registrationId };
    const lost = await api.send('POST', REGISTER, { token: once, body });
    const node = await api.store.get({ kind: 'Node', name: 'n1' });

    // act: the same try again; another id with the same token; another token with the same id
    const retried = await api.send('POST', REGISTER, { token: once, body });
    const otherId = await api.send('POST', REGISTER, {
      token: once,
      body: { ...body, registrationId: 'bbbbbbbbbbbbbbbbbbbbbb' },
    });
    const other = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const otherToken = await api.send('POST', REGISTER, { token: other, body });
    const lostSync = await api.send('POST', SYNC, { token: String(lost.json.token), body: { nodeStatus: STATUS } });
    const synced = await api.send('POST', SYNC, { token: String(retried.json.token), body: { nodeStatus: STATUS } });
    const afterSync = await api.send('POST', REGISTER, { token: once, body });

    // assess
    expect(lost.status).toBe(200);
    expect(JSON.stringify(node?.metadata.annotations)).not.toContain(registrationId); // only its hash is kept
    expect(retried.status).toBe(200);
    expect(retried.json.token).not.toBe(lost.json.token);
    expect(lostSync.status).toBe(401); // the lost credential is revoked
    expect(synced.status).toBe(200);
    expect(otherId.status).toBe(401); // a spent token may only finish its own registration
    expect(otherToken.status).toBe(403);
    expect(afterSync.status).toBe(401); // synced: its Lease exists, the credential is the agent's
  });

  it('refuses a fleet token retrying a registration once its node synced', async () => {
    // prepare
    const fleet = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 5 });
    const body = { nodeName: 'n1', status: STATUS, registrationId: 'cccccccccccccccccccccc' };
    const first = await api.send('POST', REGISTER, { token: fleet, body });
    await api.send('POST', SYNC, { token: String(first.json.token), body: { nodeStatus: STATUS } });

    // act
    const again = await api.send('POST', REGISTER, { token: fleet, body });
    const stillAgent = await api.send('POST', SYNC, { token: String(first.json.token), body: { nodeStatus: STATUS } });

    // assess
    expect(again.status).toBe(403);
    expect(again.json.message).toMatch(/already registered/);
    expect(stillAgent.status).toBe(200);
  });

  it('refuses a registrationId that is not a random id', async () => {
    // act
    const short = await api.send('POST', REGISTER, {
      token: bootstrap,
      body: { nodeName: 'n1', status: STATUS, registrationId: 'abc' },
    });
    const spaced = await api.send('POST', REGISTER, {
      token: bootstrap,
      body: { nodeName: 'n1', status: STATUS, registrationId: 'a b c d e f g h i j k l m' },
    });

    // assess
    expect(short.status).toBe(422);
    expect(spaced.status).toBe(422);
    expect(JSON.stringify(short.json)).toContain('registrationId');
    expect(await api.store.get({ kind: 'Node', name: 'n1' })).toBeUndefined();
  });

  it('refuses register to any token but bootstrap and admin, and an expired bootstrap token', async () => {
    // prepare
    const reader = await api.token({ role: 'reader' });

    // act
    const asReader = await api.send('POST', REGISTER, { token: reader, body: { nodeName: 'n1', status: STATUS } });
    api.now.ms += 601_000;
    const expired = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status: STATUS } });

    // assess
    expect(asReader.status).toBe(403);
    expect(expired.status).toBe(401);
  });

  it('refuses a bootstrap token everything but register', async () => {
    // act
    const res = await api.send('POST', SYNC, { token: bootstrap, body: {} });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/bootstrap token may only register a node/);
  });

  it('rejects a malformed register request with 422 and writes nothing', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', REGISTER, {
      token: bootstrap,
      body: { nodeName: 'Not A Name', status: STATUS, extra: 1 },
    });

    // assess
    expect(res.status).toBe(422);
    expect(await api.snapshot()).toBe(before);
  });

  it('syncs with the node token: renews the lease and returns the pods bound to the node', async () => {
    // prepare
    const registered = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status: STATUS } });
    const nodeToken = String(registered.json.token);
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('mine', { nodeName: 'n1' }) });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('other', { nodeName: 'n2' }) });

    // act
    const res = await api.send('POST', SYNC, { token: nodeToken, body: {} });

    // assess
    expect(res.status).toBe(200);
    expect((res.json.pods as { metadata: { name: string } }[]).map((p) => p.metadata.name)).toEqual(['mine']);
    expect(await api.store.get({ kind: 'Lease', namespace: 'kube-node-lease', name: 'n1' })).toBeDefined();
  });

  it('replaces the node token when a node registers again with its current credential', async () => {
    // prepare
    const first = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status: STATUS } });

    // act
    const second = await api.send('POST', REGISTER, {
      token: String(first.json.token),
      body: { nodeName: 'n1', status: STATUS },
    });
    const withOld = await api.send('POST', SYNC, { token: String(first.json.token), body: {} });
    const withNew = await api.send('POST', SYNC, { token: String(second.json.token), body: {} });

    // assess
    expect(withOld.status).toBe(401);
    expect(withNew.status).toBe(200);
  });

  it('answers with every Service route and wakes a held sync when endpoints change', async () => {
    // prepare
    const registered = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status: STATUS } });
    const nodeToken = String(registered.json.token);
    const svc = await api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } },
    });
    const nodePort = (svc.json.spec as { ports: { nodePort: number }[] }).ports[0]?.nodePort;
    const clusterIP = (svc.json.spec as { clusterIP: string }).clusterIP;
    await publishRoutes();
    const first = await api.send('POST', SYNC, { token: nodeToken, body: {} });

    // act
    const held = heldSync(nodeToken, first);
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await api.send('POST', '/api/v1/namespaces/default/endpoints', {
      body: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web' },
        subsets: [{ addresses: [{ ip: '10.0.0.2' }], ports: [{ port: 41000, protocol: 'TCP' }] }],
      },
    });
    await publishRoutes();
    const woken = await held;

    // assess
    // Besides the built-in kubernetes Service's route, which every node serves.
    const mine = (routes: unknown) =>
      (routes as { services: { name: string }[] }).services.filter((s) => s.name !== 'kubernetes');
    expect(mine(first.json.routes)).toEqual([
      { namespace: 'default', name: 'web', clusterIP, ports: [{ port: 80, nodePort, protocol: 'TCP', endpoints: [] }] },
    ]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(woken.json.versions).not.toEqual(first.json.versions);
    expect((woken.json.routes as { services: unknown[] }).services).toEqual([
      {
        namespace: 'default',
        name: 'web',
        clusterIP,
        ports: [{ port: 80, nodePort, protocol: 'TCP', endpoints: [{ ip: '10.0.0.2', port: 41000 }] }],
      },
    ]);
  });

  it('sends a node only the ConfigMaps and Secrets its own pods refer to, and wakes a held sync when one appears', async () => {
    // prepare
    const registered = await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName: 'n1', status: STATUS } });
    const nodeToken = String(registered.json.token);
    const withRefs = (name: string, nodeName: string, cm: string, sec: string) => {
      const p = pod(name, { nodeName });
      const c = p.spec.containers[0] as Record<string, unknown>;
      c.envFrom = [{ configMapRef: { name: cm } }];
      c.env = [{ name: 'PW', valueFrom: { secretKeyRef: { name: sec, key: 'k' } } }];
      return p;
    };
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: withRefs('mine', 'n1', 'mine-cm', 'mine-sec') });
    await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: withRefs('other', 'n2', 'other-cm', 'other-sec'),
    });
    for (const body of [
      configMap('mine-cm'),
      configMap('other-cm'),
      secret('mine-sec'),
      secret('other-sec'),
      secret('unused'),
    ])
      await api.send('POST', `/api/v1/namespaces/default/${body.kind === 'Secret' ? 'secrets' : 'configmaps'}`, {
        body,
      });
    await api.send('DELETE', '/api/v1/namespaces/default/configmaps/mine-cm');
    const first = await api.send('POST', SYNC, { token: nodeToken, body: {} });

    // act
    const held = heldSync(nodeToken, first);
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('mine-cm', { A: 'back' }) });
    const woken = await held;

    // assess
    expect(first.json.configMaps).toEqual([]);
    expect(first.json.secrets).toEqual([{ namespace: 'default', name: 'mine-sec', data: { k: 'dg==' } }]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(woken.json.versions).not.toEqual(first.json.versions);
    expect(woken.json.configMaps).toEqual([{ namespace: 'default', name: 'mine-cm', data: { A: 'back' } }]);
    expect(woken.json.secrets).toEqual(first.json.secrets);
  });
});
