/**
 * The Eviction subresource against PodDisruptionBudgets kept by the disruption controller: a
 * budget is spent atomically, a forbidden eviction is a 429 with Kubernetes' words and a
 * Retry-After, two budgets are a 500, and hostile or unauthorized requests change nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { standaloneContext } from '../../../functions/controllers/controller';
import { reconcileDisruptionBudgets } from '../../../functions/controllers/disruption';
import type { Obj } from '../../../functions/store/types';
import { startApi, type TestApi } from './harness';

const PODS = '/api/v1/namespaces/default/pods';
const PDBS = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';
const evictionOf = (name: string, deleteOptions?: Record<string, unknown>) => ({
  apiVersion: 'policy/v1',
  kind: 'Eviction',
  metadata: { name, namespace: 'default' },
  ...(deleteOptions ? { deleteOptions } : {}),
});

describe('evicting pods through PodDisruptionBudgets', () => {
  let api: TestApi;

  const runningPod = async (name: string, ready = true, extra: Record<string, unknown> = {}) =>
    api.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: 'web' }, ...extra },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      },
    } as Obj);
  const budget = async (spec: Record<string, unknown>, name = 'web') => {
    const res = await api.send('POST', PDBS, {
      body: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec },
    });
    expect(res.status, res.body).toBe(201);
  };
  const sync = () => reconcileDisruptionBudgets(standaloneContext(api.deps));
  const statusOf = async (name = 'web') =>
    (await api.send('GET', `${PDBS}/${name}`)).json.status as Record<string, unknown>;
  const evict = (name: string, options: { body?: unknown; token?: string } = {}) =>
    api.send('POST', `${PODS}/${name}/eviction`, {
      body: options.body ?? evictionOf(name),
      ...(options.token ? { token: options.token } : {}),
    });
  const terminating = async (name: string) =>
    ((await api.send('GET', `${PODS}/${name}`)).json.metadata as Record<string, unknown>).deletionTimestamp !==
    undefined;

  beforeEach(async () => {
    api = await startApi();
    for (const n of ['web-1', 'web-2', 'web-3']) await runningPod(n);
  });

  it('keeps the budget status: 3 healthy, minAvailable 2, one disruption allowed', async () => {
    // prepare
    await budget({ minAvailable: 2, selector: { matchLabels: { app: 'web' } } });

    // act
    await sync();

    // assess
    const status = await statusOf();
    expect(status).toMatchObject({
      currentHealthy: 3,
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 1,
      observedGeneration: 1,
    });
    expect(status.conditions).toEqual([
      expect.objectContaining({ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }),
    ]);
  });

  it("evicts while the budget allows it, then answers 429 with Kubernetes' message and a Retry-After", async () => {
    // prepare
    await budget({ minAvailable: 2, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const first = await evict('web-1');
    const second = await evict('web-2');

    // assess
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ kind: 'Status', status: 'Success' });
    expect(await terminating('web-1')).toBe(true);
    expect(second.status).toBe(429);
    expect(second.json.message).toBe("Cannot evict pod as it would violate the pod's disruption budget.");
    expect(second.json.details?.causes?.[0]).toMatchObject({
      reason: 'DisruptionBudget',
      message: 'The disruption budget web needs 2 healthy pods and has 3 currently',
    });
    expect(second.headers['retry-after']).toBe('1');
    expect(await terminating('web-2')).toBe(false);
    const status = await statusOf();
    expect(status.disruptionsAllowed).toBe(0);
    expect(Object.keys(status.disruptedPods as object)).toEqual(['web-1']);
  });

  it('lets exactly one of two concurrent evictions spend the last allowed disruption', async () => {
    // prepare
    await budget({ minAvailable: 2, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const results = await Promise.all([evict('web-2'), evict('web-3')]);

    // assess
    expect(results.map((r) => r.status).sort()).toEqual([201, 429]);
    expect([await terminating('web-2'), await terminating('web-3')].filter(Boolean)).toHaveLength(1);
  });

  it('lets ten concurrent evictions through a budget of two, and no more', async () => {
    // prepare
    for (let i = 4; i <= 10; i++) await runningPod(`web-${i}`);
    await budget({ minAvailable: 8, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const names = Array.from({ length: 10 }, (_, i) => `web-${i + 1}`);
    const results = await Promise.all(names.map((n) => evict(n)));

    // assess
    expect(results.filter((r) => r.status === 201)).toHaveLength(2);
    expect(results.filter((r) => r.status === 429)).toHaveLength(8);
    const flags = await Promise.all(names.map(terminating));
    expect(flags.filter(Boolean)).toHaveLength(2);
  });

  it('counts the evicted pod as gone until the controller sees it go, so the budget stays spent', async () => {
    // prepare
    await budget({ minAvailable: 2, selector: { matchLabels: { app: 'web' } } });
    await sync();
    await evict('web-1');

    // act
    await sync();

    // assess: web-1 is terminating, 2 healthy are left, nothing more may go
    expect(await statusOf()).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0 });
    expect((await evict('web-3')).status).toBe(429);
  });

  it('answers 429 "still being processed" with Retry-After 10 for a budget the controller has not seen', async () => {
    // prepare
    await budget({ minAvailable: 1, selector: { matchLabels: { app: 'web' } } });

    // act
    const res = await evict('web-1');

    // assess
    expect(res.status).toBe(429);
    expect(res.json.message).toBe('The disruption budget web is still being processed by the server.');
    expect(res.headers['retry-after']).toBe('10');
  });

  it("answers 500 with Kubernetes' message when two budgets select the pod, and deletes nothing", async () => {
    // prepare
    await budget({ minAvailable: 1, selector: { matchLabels: { app: 'web' } } }, 'a');
    await budget({ maxUnavailable: 1, selector: {} }, 'b');
    await sync();

    // act
    const res = await evict('web-1');

    // assess
    expect(res.status).toBe(500);
    expect(res.json.message).toBe(
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    );
    expect(await terminating('web-1')).toBe(false);
  });

  it('evicts at once when no budget selects the pod, honouring gracePeriodSeconds', async () => {
    // act
    const res = await evict('web-1', { body: evictionOf('web-1', { gracePeriodSeconds: 3 }) });

    // assess
    expect(res.status).toBe(201);
    const meta = (await api.send('GET', `${PODS}/web-1`)).json.metadata as Record<string, unknown>;
    expect(meta.deletionGracePeriodSeconds).toBe(3);
  });

  it('evicts an unready pod without spending a budget that is met (IfHealthyBudget)', async () => {
    // prepare
    await runningPod('web-4', false);
    await budget({ minAvailable: 3, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const res = await evict('web-4');

    // assess
    expect(res.status).toBe(201);
    expect((await statusOf()).disruptionsAllowed).toBe(0);
    expect((await statusOf()).disruptedPods).toBeUndefined();
  });

  it('refuses an unready pod under an unmet budget, unless the budget says AlwaysAllow', async () => {
    // prepare
    await runningPod('web-4', false);
    await budget({ minAvailable: 4, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const refused = await evict('web-4');
    await api.send('PATCH', `${PDBS}/web`, {
      body: { spec: { unhealthyPodEvictionPolicy: 'AlwaysAllow' } },
      contentType: 'application/merge-patch+json',
    });
    await sync();
    const allowed = await evict('web-4');

    // assess
    expect(refused.status).toBe(429);
    expect(allowed.status).toBe(201);
  });

  it("counts maxUnavailable against the replicas of the pods' ReplicaSet", async () => {
    // prepare
    const rs = await api.send('POST', '/apis/apps/v1/namespaces/default/replicasets', {
      body: {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'web' },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
          },
        },
      },
    });
    const owner = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: 'web',
      uid: (rs.json.metadata as { uid: string }).uid,
      controller: true,
    };
    for (const n of ['web-1', 'web-2', 'web-3']) await api.store.delete({ kind: 'Pod', namespace: 'default', name: n });
    for (const n of ['web-1', 'web-2', 'web-3']) await runningPod(n, true, { ownerReferences: [owner] });
    await budget({ maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } });

    // act
    await sync();

    // assess: 4 expected, 3 wanted healthy, 3 healthy: nothing may go (one is already missing)
    expect(await statusOf()).toMatchObject({
      expectedPods: 4,
      desiredHealthy: 3,
      currentHealthy: 3,
      disruptionsAllowed: 0,
    });
  });

  it('fails safe (SyncFailed, nothing allowed) when a percentage budget selects pods without a controller', async () => {
    // prepare
    await budget({ minAvailable: '50%', selector: { matchLabels: { app: 'web' } } });

    // act
    await sync();

    // assess
    const status = await statusOf();
    expect(status.disruptionsAllowed).toBe(0);
    expect(status.conditions).toEqual([expect.objectContaining({ status: 'False', reason: 'SyncFailed' })]);
  });

  it('deletes a Pending pod without consulting the budget', async () => {
    // prepare
    await api.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'waiting', namespace: 'default', labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      status: { phase: 'Pending' },
    } as Obj);
    await budget({ minAvailable: 10, selector: { matchLabels: { app: 'web' } } });
    await sync();

    // act
    const res = await evict('waiting');

    // assess
    expect(res.status).toBe(201);
    expect((await api.send('GET', `${PODS}/waiting`)).status).toBe(404);
  });

  it('honours preconditions: a stale uid or resourceVersion is a 409 and nothing is deleted', async () => {
    // act
    const uid = await evict('web-1', { body: evictionOf('web-1', { preconditions: { uid: 'not-the-uid' } }) });
    const rv = await evict('web-1', { body: evictionOf('web-1', { preconditions: { resourceVersion: '1' } }) });

    // assess
    expect(uid.status).toBe(409);
    expect(uid.json.message).toContain('Precondition failed: UID in precondition: not-the-uid');
    expect(rv.status).toBe(409);
    expect(await terminating('web-1')).toBe(false);
  });

  it('checks everything and changes nothing on a dry run', async () => {
    // prepare
    await budget({ minAvailable: 2, selector: { matchLabels: { app: 'web' } } });
    await sync();
    const before = await api.snapshot();

    // act
    const res = await evict('web-1', { body: evictionOf('web-1', { dryRun: ['All'] }) });

    // assess
    expect(res.status).toBe(201);
    expect(await api.snapshot()).toBe(before);
  });

  it.each([
    ["a name that is not the URL's", evictionOf('web-2'), 400],
    ['an unknown deleteOptions field', evictionOf('web-1', { force: true }), 422],
    ['a negative grace period', evictionOf('web-1', { gracePeriodSeconds: -1 }), 422],
    ['another kind', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1' } }, 422],
    ['an array', [1, 2], 422],
  ])('refuses an Eviction with %s (%#) and changes nothing', async (_what, body, code) => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await evict('web-1', { body });

    // assess
    expect(res.status).toBe(code);
    expect(await api.snapshot()).toBe(before);
  });

  it("accepts kubectl's Eviction (policy/v1beta1, creationTimestamp: null, DeleteOptions kind)", async () => {
    // act
    const res = await evict('web-1', {
      body: {
        apiVersion: 'policy/v1beta1',
        kind: 'Eviction',
        metadata: { name: 'web-1', namespace: 'default', creationTimestamp: null },
        deleteOptions: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: null },
      },
    });

    // assess
    expect(res.status, res.body).toBe(201);
    expect(await terminating('web-1')).toBe(true);
  });

  it('answers 404 for a pod that does not exist and 405 for a GET of the subresource', async () => {
    // act
    const missing = await evict('nope');
    const get = await api.send('GET', `${PODS}/web-1/eviction`);

    // assess
    expect(missing.status).toBe(404);
    expect(get.status).toBe(405);
  });

  it('lets a deployer evict in its namespace, and neither a reader nor a deployer of another namespace', async () => {
    // prepare
    const deployer = await api.token({ role: 'deployer', namespaces: ['default'] });
    const stranger = await api.token({ role: 'deployer', namespaces: ['other'] });
    const reader = await api.token({ role: 'reader' });

    // act
    const byReader = await evict('web-1', { token: reader });
    const byStranger = await evict('web-1', { token: stranger });
    const byDeployer = await evict('web-1', { token: deployer });

    // assess
    expect(byReader.status).toBe(403);
    expect(byStranger.status).toBe(403);
    expect(byDeployer.status).toBe(201);
  });
});
