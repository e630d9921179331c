/**
 * Pod priority as Kubernetes has it: PriorityClass (scheduling.k8s.io/v1) with the two built-in
 * classes, a pod's priority resolved from its class when it is created (by the API and by the
 * controllers), and the scheduler taking higher priorities first.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { admitControllerPod } from '../../../functions/admission';
import { ForbiddenError } from '../../../functions/errors';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import type { Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';
import { startApi, T0, type TestApi } from './harness';

const PODS = '/api/v1/namespaces/default/pods';
const CLASSES = '/apis/scheduling.k8s.io/v1/priorityclasses';
const pod = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'app', image: 'nginx' }], ...spec },
});
const priorityClass = (name: string, value: number, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'scheduling.k8s.io/v1',
  kind: 'PriorityClass',
  metadata: { name },
  value,
  ...extra,
});

describe('PriorityClass and pod priority', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startApi();
  });

  it('serves the built-in system-cluster-critical and system-node-critical classes', async () => {
    const res = await api.send('GET', CLASSES);

    const items = (res.json.items ?? []) as { metadata: { name: string }; value: number }[];
    expect(items.map((c) => [c.metadata.name, c.value])).toEqual([
      ['system-cluster-critical', 2_000_000_000],
      ['system-node-critical', 2_000_001_000],
    ]);
  });

  it('resolves a pod’s priorityClassName to its priority and preemption policy at create', async () => {
    const res = await api.send('POST', PODS, {
      body: pod('metrics', { priorityClassName: 'system-cluster-critical' }),
    });
    const plain = await api.send('POST', PODS, { body: pod('plain') });

    expect(res.status).toBe(201);
    const spec = (res.json as { spec: Record<string, unknown> }).spec;
    expect(spec.priority).toBe(2_000_000_000);
    expect(spec.preemptionPolicy).toBe('PreemptLowerPriority');
    expect((plain.json as { spec: Record<string, unknown> }).spec.priority).toBe(0);
  });

  it('a user class gives its value; the global default applies to pods that name none', async () => {
    await api.send('POST', CLASSES, { body: priorityClass('batch', 100, { preemptionPolicy: 'Never' }) });
    await api.send('POST', CLASSES, { body: priorityClass('normal', 1000, { globalDefault: true }) });

    const batch = await api.send('POST', PODS, { body: pod('b', { priorityClassName: 'batch' }) });
    const defaulted = await api.send('POST', PODS, { body: pod('d') });

    expect((batch.json as { spec: Pod['spec'] }).spec).toMatchObject({ priority: 100, preemptionPolicy: 'Never' });
    expect((defaulted.json as { spec: Pod['spec'] }).spec).toMatchObject({
      priorityClassName: 'normal',
      priority: 1000,
      preemptionPolicy: 'PreemptLowerPriority',
    });
  });

  it('refuses a missing class, and a priority or policy the pod sets against its class, storing nothing', async () => {
    const before = await api.snapshot();

    const missing = await api.send('POST', PODS, { body: pod('m', { priorityClassName: 'gold' }) });
    const forged = await api.send('POST', PODS, { body: pod('f', { priority: 2_000_000_000 }) });
    const policy = await api.send('POST', PODS, {
      body: pod('p', { priorityClassName: 'system-node-critical', preemptionPolicy: 'Never' }),
    });

    expect(missing.status).toBe(403);
    expect(missing.json.message).toBe('pods "m" is forbidden: no PriorityClass with name gold was found');
    expect(forged.status).toBe(403);
    expect(forged.json.message).toContain('the integer value of priority (2000000000) must not be provided');
    expect(policy.status).toBe(403);
    expect(policy.json.message).toContain('PreemptionPolicy (Never) must not be provided');
    expect(await api.snapshot()).toBe(before);
  });

  it('a pod that states the priority its class gives is accepted (kubectl get -o yaml | kubectl create)', async () => {
    const res = await api.send('POST', PODS, {
      body: pod('again', {
        priorityClassName: 'system-cluster-critical',
        priority: 2_000_000_000,
        preemptionPolicy: 'PreemptLowerPriority',
      }),
    });
    expect(res.status).toBe(201);
  });

  it('refuses user classes above 1e9, system- names that are not built in, and a changed value', async () => {
    const high = await api.send('POST', CLASSES, { body: priorityClass('vip', 1_000_000_001) });
    const reserved = await api.send('POST', CLASSES, { body: priorityClass('system-mine', 10) });
    const badPolicy = await api.send('POST', CLASSES, {
      body: priorityClass('x', 1, { preemptionPolicy: 'Sometimes' }),
    });
    await api.send('POST', CLASSES, { body: priorityClass('low', 10) });
    const changed = await api.send('PATCH', `${CLASSES}/low`, {
      body: { value: 20 },
      contentType: 'application/merge-patch+json',
    });

    expect(high.status).toBe(422);
    expect(high.json.details?.causes?.[0]?.field).toBe('value');
    expect(reserved.status).toBe(422);
    expect(reserved.json.details?.causes?.[0]?.field).toBe('metadata.name');
    expect(badPolicy.status).toBe(422);
    expect(changed.status).toBe(422);
    expect(changed.json.details?.causes?.[0]?.field).toBe('value');
  });

  it('applying a pod manifest again keeps the priority admission resolved', async () => {
    const manifest = stringify(pod('web', { priorityClassName: 'system-cluster-critical' }));
    const apply = () =>
      api.send('POST', '/apis/ferry.dev/v1/apply', { raw: manifest, contentType: 'application/yaml' });

    const first = await apply();
    const again = await apply();

    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    const stored = await api.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' });
    expect(stored?.spec.priority).toBe(2_000_000_000);
  });
});

describe('priority on the controllers’ pods and in the scheduler', () => {
  it('a controller’s pod gets its template’s class resolved, and an unknown class is refused', async () => {
    const store = new MemoryStore(() => T0);
    const deps = { store, clock: () => T0, log: silentLogger };
    const good = pod('rs-a', { priorityClassName: 'system-node-critical' }) as unknown as Obj;
    const bad = pod('rs-b', { priorityClassName: 'nope' }) as unknown as Obj;
    good.metadata.namespace = 'default';
    bad.metadata.namespace = 'default';

    await admitControllerPod(deps, good);
    const refused = await admitControllerPod(deps, bad).catch((e) => e);

    expect((good.spec as Pod['spec']).priority).toBe(2_000_001_000);
    expect(refused).toBeInstanceOf(ForbiddenError);
  });

  it('places the higher-priority pod first when only one fits', async () => {
    const store = new MemoryStore(() => 1_700_000_000_000);
    const deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
    await store.create(makeNode('n1', { cpu: '1' }));
    const low = makePod('aaa-low', { cpu: '800m' });
    const high = makePod('zzz-high', { cpu: '800m' });
    (high.spec as Pod['spec']).priority = 2_000_000_000;
    await store.create(low);
    await store.create(high);

    await schedulePass(deps);

    const bound = async (name: string) =>
      (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name }))?.spec.nodeName;
    expect(await bound('zzz-high')).toBe('n1');
    expect(await bound('aaa-low')).toBeUndefined();
  });
});

describe('preemption', () => {
  async function cluster() {
    const store = new MemoryStore(() => 1_700_000_000_000);
    const deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
    await store.create(makeNode('n1', { cpu: '1' }));
    const low = makePod('low', { cpu: '600m', nodeName: 'n1' });
    const mid = makePod('mid', { cpu: '300m', nodeName: 'n1' });
    low.spec.priority = 0;
    mid.spec.priority = 100;
    await store.create(low);
    await store.create(mid);
    return { store, deps };
  }
  const get = (store: MemoryStore, name: string) => store.get<Pod>({ kind: 'Pod', namespace: 'default', name });

  it('deletes the fewest lower-priority pods that make room, nominates the node, and binds once they are gone', async () => {
    const { store, deps } = await cluster();
    const high = makePod('high', { cpu: '500m' });
    high.spec.priority = 1000;
    await store.create(high);

    await schedulePass(deps);
    const lowAfter = await get(store, 'low');
    const midAfter = await get(store, 'mid');
    const highAfter = await get(store, 'high');
    await store.delete({ kind: 'Pod', namespace: 'default', name: 'low' });
    await schedulePass(deps);

    // Taking off `low` alone makes room: `mid` is given back (kube-scheduler's reprieve).
    expect(lowAfter?.metadata.deletionTimestamp).toBeDefined();
    expect(midAfter?.metadata.deletionTimestamp).toBeUndefined();
    expect(highAfter?.spec.nodeName).toBeUndefined();
    expect(highAfter?.status?.nominatedNodeName).toBe('n1');
    const events = (await store.list('Event')).items.filter((e) => e.reason === 'Preempted');
    expect(events.map((e) => (e.involvedObject as { name: string }).name)).toEqual(['low']);
    expect((await get(store, 'high'))?.spec.nodeName).toBe('n1');
  });

  it('never preempts for a pod with preemptionPolicy Never, nor pods of equal or higher priority', async () => {
    const { store, deps } = await cluster();
    const polite = makePod('polite', { cpu: '500m' });
    polite.spec.priority = 1000;
    polite.spec.preemptionPolicy = 'Never';
    const peer = makePod('peer', { cpu: '500m' });
    peer.spec.priority = 0;
    await store.create(polite);
    await store.create(peer);

    await schedulePass(deps);

    expect((await get(store, 'low'))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await get(store, 'mid'))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await store.list('Event')).items.filter((e) => e.reason === 'Preempted')).toEqual([]);
  });

  it('does not preempt when even removing every lower-priority pod would not make room', async () => {
    const { store, deps } = await cluster();
    const huge = makePod('huge', { cpu: '2' });
    huge.spec.priority = 1000;
    await store.create(huge);

    await schedulePass(deps);

    expect((await get(store, 'low'))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await get(store, 'huge'))?.status?.nominatedNodeName).toBeUndefined();
  });
});
