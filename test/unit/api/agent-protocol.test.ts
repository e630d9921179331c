/**
 * The pull-diff agent protocol in-process: the real API handler (held and polled modes) and the
 * real controllers writing pods and route records; what each sync costs in store calls, that
 * every kind of change reaches its node, and the two modes. Convergence: agent-convergence.test.ts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { quietSyncAfterMs } from '../../../functions/api/agent/cadence';
import { waitForDesired } from '../../../functions/api/agent/desired';
import { HELD_SYNC, POLLED_SYNC } from '../../../functions/api/agent/modes';
import { reconcileEndpoints } from '../../../functions/controllers/endpoints';
import { silentLogger } from '../../../functions/log';
import { createNodeDesired } from '../../../functions/node-desired';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import type { ServiceRoute } from '../../../schemas/agent-protocol';
import { SETTLED, type Setup, setup } from './agent-protocol-harness';
import { configMap, deployment, pod, type Sent, secret, T0 } from './harness';

describe('agent protocol: what a sync costs', () => {
  it('answers a quiet polled sync with one eventually consistent read of a small record and no write', async () => {
    // prepare
    const { api, counter, sync, syncAfter } = await setup(POLLED_SYNC);
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
    api.now.ms += SETTLED;
    const first = await sync();
    api.now.ms += 500; // within the token cache's second and the Lease's renewal interval

    // act
    counter.state.on = true;
    const quiet = await syncAfter(first);
    counter.state.on = false;

    // assess
    expect(quiet.status).toBe(200);
    expect(counter.calls).toEqual([{ method: 'get', kind: 'NodeDesired' }]);
    expect(quiet.json.pods).toBeUndefined();
    expect(quiet.json.routes).toBeUndefined();
    expect(quiet.json.configMaps).toBeUndefined();
    expect(quiet.json.versions).toEqual(first.json.versions);
    const record = await api.store.get({ kind: 'NodeDesired', name: 'n1' });
    // Under 4 KB: half a read unit eventually consistent on DynamoDB.
    expect(JSON.stringify(record).length).toBeLessThan(400);
    console.log(
      `quiet polled sync: ${counter.calls.length} store call(s), record ${JSON.stringify(record).length} bytes`,
    );
  });

  it('renews the Lease with one conditional renewal (one write on DynamoDB) when it would be older than 42 s at the next sync, and not before', async () => {
    // prepare: the node is busy (its first sync moved everything), so it is told to call in 2 s.
    const { api, counter, sync, syncAfter } = await setup(POLLED_SYNC);
    const first = await sync();

    // act
    api.now.ms += 39_000;
    const fresh = await syncAfter(first);
    api.now.ms += 2_000;
    counter.state.on = true;
    const due = await syncAfter(fresh);
    counter.state.on = false;

    // assess
    expect(fresh.json.leaseRenewedAt).toBe(first.json.leaseRenewedAt);
    expect(due.json.leaseRenewedAt).toBe(api.now.ms);
    expect(counter.calls.filter((c) => c.kind === 'Lease').map((c) => c.method)).toEqual(['renewLeaseObject']);
    const lease = await api.store.get({ kind: 'Lease', namespace: 'kube-node-lease', name: 'n1' });
    expect(lease?.spec).toEqual(
      expect.objectContaining({
        leaseDurationSeconds: POLLED_SYNC.leaseDurationSeconds,
        renewTime: new Date(api.now.ms).toISOString(),
      }),
    );
  });

  it('renews a Lease whose echoed renewal time lies in the future', async () => {
    // prepare
    const { api, sync } = await setup(POLLED_SYNC);

    // act
    const res = await sync({ leaseRenewedAt: api.now.ms + 3_600_000 });

    // assess
    expect(res.json.leaseRenewedAt).toBe(api.now.ms);
  });

  it('reads only the pods and their config after a pod change, never Services or Endpoints', async () => {
    // prepare
    const { api, counter, sync, syncAfter } = await setup(POLLED_SYNC);
    await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('cfg') });
    api.now.ms += SETTLED;
    const first = await sync();
    const p = pod('web', { nodeName: 'n1' });
    (p.spec.containers[0] as Record<string, unknown>).envFrom = [{ configMapRef: { name: 'cfg' } }];
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: p });
    api.now.ms += 500;

    // act
    counter.state.on = true;
    const changed = await syncAfter(first);
    counter.state.on = false;

    // assess
    expect((changed.json.pods as { metadata: { name: string } }[]).map((x) => x.metadata.name)).toEqual(['web']);
    expect(changed.json.configMaps).toEqual([{ namespace: 'default', name: 'cfg', data: { a: '1' } }]);
    expect(counter.calls).toEqual([
      { method: 'get', kind: 'NodeDesired' },
      { method: 'list', kind: 'Pod' },
      // The node's volumes travel with its pods (functions/api/agent/volumes.ts).
      { method: 'list', kind: 'PersistentVolume' },
      { method: 'get', kind: 'ConfigMap' },
    ]);
    expect(counter.calls.some((c) => c.kind === 'Service' || c.kind === 'Endpoints')).toBe(false);
    console.log(`sync after a pod change: ${counter.calls.length} store call(s)`);
  });
});

describe('agent protocol: every kind of change reaches its node', () => {
  let t: Setup;
  let last: Sent;
  const next = async () => {
    t.api.now.ms += SETTLED;
    last = await t.syncAfter(last);
    expect(last.status).toBe(200);
    return last;
  };

  beforeEach(async () => {
    t = await setup(POLLED_SYNC);
    last = await t.sync();
  });

  it('sends a pod the scheduler binds to the node, from a Deployment applied through the API', async () => {
    // act
    await t.api.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: deployment('web', 2) });
    await t.controllers.runOnce();
    const res = await next();

    // assess
    expect((res.json.pods as unknown[]).length).toBe(2);
    expect(res.json.syncAfterSeconds).toBe(POLLED_SYNC.busySyncSeconds);
  });

  it('sends a pod marked for deletion, and then its removal once the agent reports it stopped', async () => {
    // prepare
    await t.api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
    const bound = (await next()).json.pods as { metadata: { name: string; uid: string; namespace: string } }[];

    // act
    await t.api.send('DELETE', '/api/v1/namespaces/default/pods/web');
    const terminating = (await next()).json.pods as { metadata: { deletionTimestamp?: string } }[];
    const ref = { namespace: 'default', name: 'web', uid: bound[0]?.metadata.uid as string };
    t.api.now.ms += SETTLED;
    last = await t.syncAfter(last, { terminated: [ref] });

    // assess
    expect(terminating[0]?.metadata.deletionTimestamp).toBeDefined();
    expect(last.json.pods).toEqual([]);
  });

  it('sends a ConfigMap and a Secret its pods use when they are created, changed and deleted, and no others', async () => {
    // prepare
    const p = pod('web', { nodeName: 'n1' });
    const c = p.spec.containers[0] as Record<string, unknown>;
    c.envFrom = [{ configMapRef: { name: 'cfg' } }];
    c.env = [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'sec', key: 'k' } } }];
    await t.api.send('POST', '/api/v1/namespaces/default/pods', { body: p });
    await next();

    // act
    await t.api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('cfg', { A: '1' }) });
    const created = await next();
    await t.api.send('PUT', '/api/v1/namespaces/default/configmaps/cfg', { body: configMap('cfg', { A: '2' }) });
    const changed = await next();
    await t.api.send('POST', '/api/v1/namespaces/default/secrets', { body: secret('sec') });
    const withSecret = await next();
    await t.api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('unrelated') });
    const unrelated = await next();
    await t.api.send('DELETE', '/api/v1/namespaces/default/configmaps/cfg');
    const deleted = await next();

    // assess
    expect(created.json.configMaps).toEqual([{ namespace: 'default', name: 'cfg', data: { A: '1' } }]);
    expect(created.json.pods).toBeUndefined();
    expect(changed.json.configMaps).toEqual([{ namespace: 'default', name: 'cfg', data: { A: '2' } }]);
    expect(withSecret.json.secrets).toEqual([{ namespace: 'default', name: 'sec', data: { k: 'dg==' } }]);
    expect(unrelated.json.configMaps).toBeUndefined();
    expect(deleted.json.configMaps).toEqual([]);
  });

  it('sends a log request for one of its pods', async () => {
    // prepare
    await t.api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
    await next();

    // act
    const call = t.api.send('GET', '/api/v1/namespaces/default/pods/web/log');
    await new Promise((r) => setTimeout(r, 20));
    const res = await next();
    const request = (res.json.logRequests as { namespace: string; name: string }[])[0];
    await t.api.send('POST', '/agent/v1/logs', {
      token: t.token,
      body: { namespace: request?.namespace, name: request?.name, content: 'hello\n' },
    });

    // assess
    expect((await call).body).toBe('hello\n');
  });

  it('sends the routes of a Service the endpoints controller publishes, then only what changed, then its removal', async () => {
    // act
    const svc = await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
    });
    await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ports: [{ port: 81 }] } },
    });
    await reconcileEndpoints(t.api.deps);
    const both = await next();
    await t.api.send('POST', '/api/v1/namespaces/default/endpoints', {
      body: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'a' },
        subsets: [{ addresses: [{ ip: '10.0.0.2' }], ports: [{ port: 41000 }] }],
      },
    });
    await reconcileEndpoints(t.api.deps);
    const one = await next();
    await t.api.send('DELETE', '/api/v1/namespaces/default/services/b');
    await reconcileEndpoints(t.api.deps);
    const gone = await next();
    const quiet = await next();

    // assess
    const nodePort = (svc.json.spec as { ports: { nodePort: number }[] }).ports[0]?.nodePort;
    // With the built-in kubernetes Service's route, which every node serves.
    expect((both.json.routes as { services: ServiceRoute[] }).services.map((r) => r.name)).toEqual([
      'a',
      'b',
      'kubernetes',
    ]);
    expect(one.json.routes).toEqual({
      full: false,
      services: [
        {
          namespace: 'default',
          name: 'a',
          clusterIP: (svc.json.spec as { clusterIP: string }).clusterIP,
          ports: [{ port: 80, nodePort, protocol: 'TCP', endpoints: [{ ip: '10.0.0.2', port: 41000 }] }],
        },
      ],
    });
    expect(gone.json.routes).toEqual({ full: false, services: [], removed: ['default/b'] });
    expect(quiet.json.routes).toBeUndefined();
  });

  it("does not move the node's versions when its agent reports pod status", async () => {
    // prepare
    await t.api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
    const bound = (await next()).json.pods as { metadata: { uid: string } }[];

    // act
    t.api.now.ms += SETTLED;
    last = await t.syncAfter(last, {
      podStatuses: [
        {
          pod: { namespace: 'default', name: 'web', uid: bound[0]?.metadata.uid as string },
          status: { phase: 'Running' },
        },
      ],
    });
    const later = await next();

    // assess
    expect(last.json.pods).toBeUndefined();
    expect(later.json.pods).toBeUndefined();
    const stored = await t.api.store.get<
      { status?: { phase?: string } } & import('../../../functions/store/types').Obj
    >({
      kind: 'Pod',
      namespace: 'default',
      name: 'web',
    });
    expect(stored?.status?.phase).toBe('Running');
  });

  it('refuses a node whose Node object was deleted, writing nothing', async () => {
    // act
    await t.api.send('DELETE', '/api/v1/nodes/n1');
    const res = await t.syncAfter(last);

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/not registered/);
  });
});

describe('agent protocol: route records', () => {
  it('finishes a fan-out a failed pass left undone, so a lagging node still learns of the change', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
    });
    await reconcileEndpoints(t.api.deps);
    t.api.now.ms += SETTLED;
    const first = await t.sync();
    await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ports: [{ port: 81 }] } },
    });
    await reconcileEndpoints(t.api.deps);
    // Play a pass that moved the index and died before bringing n1's record to it.
    const index = (await t.api.store.get({ kind: 'ServiceRouteIndex', name: 'routes' })) as Obj & {
      spec: { seq: number; fannedOut: number };
    };
    await t.api.store.update({ ...index, spec: { ...index.spec, fannedOut: index.spec.seq - 1 } });
    const record = (await t.api.store.get({ kind: 'NodeDesired', name: 'n1' })) as Obj & { spec: { routes: string } };
    await t.api.store.update({ ...record, spec: { ...record.spec, routes: String(index.spec.seq - 1) } });
    t.api.now.ms += 500;
    const missed = await t.syncAfter(first);

    // act
    await reconcileEndpoints(t.api.deps);
    t.api.now.ms += 500;
    const caughtUp = await t.syncAfter(missed);

    // assess
    expect(missed.json.routes).toBeUndefined();
    expect((caughtUp.json.routes as { services: ServiceRoute[] }).services.map((r) => r.name)).toEqual(['b']);
  });

  it("catches a node's record up to the route index when the record is behind it", async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
    });
    // n1 has not synced yet: it has no record, so the fan-out did not reach it.
    await reconcileEndpoints(t.api.deps);

    // act
    const first = await t.sync();
    t.api.now.ms += 500;
    t.counter.state.on = true;
    const quiet = await t.syncAfter(first);
    t.counter.state.on = false;

    // assess
    expect((first.json.routes as { services: ServiceRoute[] }).services.map((r) => r.name)).toEqual([
      'a',
      'kubernetes',
    ]);
    expect(quiet.json.routes).toBeUndefined();
    expect(t.counter.calls).toEqual([{ method: 'get', kind: 'NodeDesired' }]);
  });
});

describe('agent protocol: modes', () => {
  it('holds the syncs of many nodes on one store listener, and wakes only the node whose record moved', async () => {
    // prepare
    const inner = new MemoryStore(() => T0);
    let listeners = 0;
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'watch') listeners++;
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const deps = { store, clock: () => T0, log: silentLogger };
    const woken: string[] = [];
    const holds = Array.from({ length: 50 }, (_, i) =>
      waitForDesired(deps, `n${i}`, 2_000).then(() => woken.push(`n${i}`)),
    );

    // act
    await createNodeDesired(store, () => T0, 'n7');
    await new Promise((r) => setTimeout(r, 20));

    // assess
    expect(listeners).toBe(1);
    expect(woken).toEqual(['n7']);
    await Promise.all(holds);
  });

  it('answers a quiet sync at once on a polled runtime, with a relaxed interval', async () => {
    // prepare
    const { api, sync, syncAfter } = await setup(POLLED_SYNC);
    const first = await sync();
    api.now.ms += POLLED_SYNC.busyForSeconds * 1000 + 1000;

    // act
    const started = Date.now();
    const res = await syncAfter(first, { waitSeconds: 5 });

    // assess
    expect(Date.now() - started).toBeLessThan(1000);
    // On the node's own slot of the quiet interval (cadence.ts): never sooner than a quarter of it.
    expect(res.json.syncAfterSeconds).toBeGreaterThanOrEqual(POLLED_SYNC.quietSyncSeconds / 4);
    expect(res.json.syncAfterSeconds).toBeLessThanOrEqual(POLLED_SYNC.quietSyncSeconds * 1.25);
  });

  it('spreads quiet nodes that synced in step over the interval, each on a slot of its own', () => {
    const period = POLLED_SYNC.quietSyncSeconds * 1000;
    const now = 1_700_000_000_000;
    const names = Array.from({ length: 200 }, (_, i) => `node-${i}`);

    // Two hundred nodes answered at the same instant; then each calls again on its slot.
    const first = names.map((n) => now + quietSyncAfterMs(n, now, period));
    const second = names.map((n, i) => (first[i] as number) + quietSyncAfterMs(n, first[i] as number, period));

    // Every later interval is the full quiet interval, and the calls cover it evenly.
    for (const [i, at] of second.entries()) expect(at - (first[i] as number)).toBe(period);
    const quarters = [0, 0, 0, 0];
    for (const at of first) {
      const q = Math.floor(((at - now) % period) / (period / 4));
      quarters[q] = (quarters[q] ?? 0) + 1;
    }
    for (const q of quarters) expect(q).toBeGreaterThan(25);
  });

  it('holds a quiet sync on a held runtime until a pod of the node is created', async () => {
    // prepare
    const { api, sync, syncAfter } = await setup(HELD_SYNC);
    const first = await sync();

    // act
    const held = syncAfter(first, { waitSeconds: 5 });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
    const res = await held;

    // assess
    expect(Date.now() - started).toBeLessThan(2000);
    expect((res.json.pods as unknown[]).length).toBe(1);
    expect(res.json.syncAfterSeconds).toBeUndefined();
  });

  it('answers sections read within the settle time with versions the agent will not match, so it reads them again', async () => {
    // prepare
    const { api, sync, syncAfter } = await setup(POLLED_SYNC);
    const first = await sync();
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });

    // act
    const soon = await syncAfter(first);
    api.now.ms += POLLED_SYNC.listSettleMs + 1;
    const later = await syncAfter(soon);
    const quiet = await syncAfter(later);

    // assess
    expect((soon.json.pods as unknown[]).length).toBe(1);
    expect((later.json.pods as unknown[]).length).toBe(1);
    expect(quiet.json.pods).toBeUndefined();
  });
});

/** The real agent loop over the in-process API; records what it feeds the pod manager and proxy. */
