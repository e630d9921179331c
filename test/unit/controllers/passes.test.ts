import { describe, expect, it } from 'vitest';
import { createControllerManager } from '../../../functions/controllers/manager';
import { nodeFingerprint, triggersPass } from '../../../functions/controllers/triggers';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { createControllersHandler } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj, StateStore } from '../../../functions/store/types';
import type { Lease, Node, Pod } from '../../../schemas';
import { makeNode } from '../../helpers/objects';
import { deployment } from '../../integration/sim/harness';

/** A memory store that counts reads: lists per kind, and gets. */
function countingStore(now: { ms: number }) {
  const store = new MemoryStore(() => now.ms);
  const lists = new Map<string, number>();
  const reads = { gets: 0 };
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'list')
        return (kind: string, ...rest: unknown[]) => {
          lists.set(kind, (lists.get(kind) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).call(target, kind, ...rest);
        };
      if (prop === 'get')
        return (...args: unknown[]) => {
          reads.gets++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return value.bind(target);
    },
  }) as StateStore;
  return { store: counted, raw: store, lists, reads };
}

async function heartbeat(store: StateStore, name: string, at: number): Promise<void> {
  const ref = { kind: 'Lease', namespace: 'kube-node-lease', name };
  const renewTime = new Date(at).toISOString();
  const lease = await store.get<Lease>(ref);
  if (lease) await store.update({ ...lease, spec: { ...lease.spec, renewTime } });
  else
    await store.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'kube-node-lease' },
      spec: { holderIdentity: name, renewTime },
    });
}

describe('a controllers pass', () => {
  it('lists each kind at most once, however many controllers read it and rounds it takes', async () => {
    const now = { ms: 1_700_000_000_000 };
    const { store, raw, lists } = countingStore(now);
    const deps: Deps = { store, clock: () => now.ms, log: silentLogger };
    for (const n of ['n1', 'n2']) {
      await raw.create(makeNode(n));
      await heartbeat(raw, n, now.ms);
    }
    await raw.create(deployment('web', 4));
    await raw.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });

    await createControllerManager(deps).runOnce();

    // The Deployment became bound pods in that one pass (several rounds, one read of each kind).
    const pods = (await raw.list<Pod>('Pod')).items;
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.spec.nodeName)).toBe(true);
    for (const [kind, count] of lists) expect({ kind, count }).toEqual({ kind, count: 1 });
    expect(lists.get('Pod')).toBe(1);
    expect(lists.get('Node')).toBe(1);
  });

  it('one Deployment written costs one pass: the pass does not trigger itself again with its own writes', async () => {
    const now = { ms: Date.now() };
    const { store, raw, lists } = countingStore(now);
    await raw.create(makeNode('n1'));
    await heartbeat(raw, 'n1', now.ms);
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      { resyncMs: 60_000, debounceMs: 5 },
    );
    manager.start();
    await new Promise((r) => setTimeout(r, 200));
    lists.clear();

    await raw.create(deployment('web', 3));
    await new Promise((r) => setTimeout(r, 600));
    await manager.stop();

    const pods = (await raw.list<Pod>('Pod')).items;
    expect(pods.filter((p) => p.spec.nodeName === 'n1')).toHaveLength(3);
    expect(lists.get('Pod')).toBe(1);
  });

  it('locally, a foreign HPA write that moves only its metrics runs no pass, a spec change does, and an HPA named like a Node is judged by its own fingerprint', async () => {
    const now = { ms: Date.now() };
    const { store, raw, lists } = countingStore(now);
    await raw.create(makeNode('n1'));
    await heartbeat(raw, 'n1', now.ms);
    await raw.create(deployment('web', 1));
    await raw.create({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'n1', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        minReplicas: 1,
        maxReplicas: 3,
      },
    } as Obj);
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      { resyncMs: 60_000, debounceMs: 5 },
    );
    manager.start();
    await new Promise((r) => setTimeout(r, 400));
    const ref = { kind: 'HorizontalPodAutoscaler', namespace: 'default', name: 'n1' };
    const passes = () => lists.get('Pod') ?? 0;
    lists.clear();

    const hpa = (await raw.get<Obj & { status?: Record<string, unknown>; spec: object }>(ref)) as Obj & {
      status?: Record<string, unknown>;
      spec: object;
    };
    await raw.update({ ...hpa, status: { ...hpa.status, currentMetrics: [] } });
    await new Promise((r) => setTimeout(r, 200));
    const afterStatus = passes();
    const moved = (await raw.get<typeof hpa>(ref)) as typeof hpa;
    await raw.update({ ...moved, spec: { ...moved.spec, maxReplicas: 4 } });
    await new Promise((r) => setTimeout(r, 200));
    const afterSpec = passes();
    await manager.stop();

    expect(afterStatus).toBe(0);
    expect(afterSpec).toBe(1);
  });

  it("an idle empty cluster's scheduled check costs one small read and runs no pass", async () => {
    const now = { ms: 1_700_000_000_000 };
    const { store, lists, reads } = countingStore(now);
    const manager = createControllerManager({ store, clock: () => now.ms, log: silentLogger });
    expect(await manager.runScheduled()).toBe(true); // no marker yet: the first check runs a pass
    lists.clear();
    reads.gets = 0;

    now.ms += 60_000;
    const ran = await manager.runScheduled();

    expect(ran).toBe(false);
    expect(reads.gets).toBe(1);
    expect(lists.size).toBe(0);
  });

  it('with nodes, the check reads only the Leases, and a stale one runs the pass that marks its node Unknown', async () => {
    const now = { ms: 1_700_000_000_000 };
    const { store, raw, lists } = countingStore(now);
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      { expectedIntervalMs: 60_000 },
    );
    for (const n of ['n1', 'n2']) {
      await raw.create(makeNode(n));
      await heartbeat(raw, n, now.ms);
    }
    await manager.runScheduled();
    now.ms += 5_000;
    await heartbeat(raw, 'n1', now.ms);
    await heartbeat(raw, 'n2', now.ms);
    lists.clear();

    now.ms += 5_000;
    expect(await manager.runScheduled()).toBe(false);
    expect([...lists.keys()]).toEqual(['Lease']);

    // n2's agent dies; a minute later n1 still heartbeats and n2's lease is stale.
    now.ms += 60_000;
    await heartbeat(raw, 'n1', now.ms);
    expect(await manager.runScheduled()).toBe(true);
    expect((await raw.get<Node>({ kind: 'Node', name: 'n2' }))?.status?.conditions?.[0]?.status).toBe('Unknown');
    expect((await raw.get<Node>({ kind: 'Node', name: 'n1' }))?.status?.conditions?.[0]?.status).toBe('True');
  });
});

describe('what triggers a pass', () => {
  const node = makeNode('n1');
  const heartbeatOnly: Node = {
    ...node,
    status: {
      ...node.status,
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: '2026-12-01T12:00:00Z' }],
    },
  };

  it('a Node status write that changes only heartbeat times does not; a taint, a readiness change or a delete does', () => {
    const before = nodeFingerprint(node);
    expect(triggersPass('MODIFIED', heartbeatOnly, before)).toBe(false);
    expect(triggersPass('MODIFIED', { ...node, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }, before)).toBe(
      true,
    );
    const notReady = { ...node, status: { ...node.status, conditions: [{ type: 'Ready', status: 'False' }] } };
    expect(triggersPass('MODIFIED', notReady, before)).toBe(true);
    expect(triggersPass('DELETED', node, before)).toBe(true);
  });

  it('heartbeats, Events and the controllers marker never do', () => {
    for (const kind of ['Lease', 'Event', 'ControllerMarker', 'NodeAllocation']) {
      expect(triggersPass('ADDED', { apiVersion: 'v1', kind, metadata: { name: 'x' } })).toBe(false);
    }
  });

  it('on Lambda, a stream batch of heartbeat-only Node writes runs no pass; a Deployment write does', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    const handler = createControllersHandler({ store, clock: () => now.ms, log: silentLogger });
    const record = (pk: string, images?: { old: unknown; new: unknown }) => ({
      eventSource: 'aws:dynamodb',
      eventName: 'MODIFY',
      dynamodb: {
        Keys: { pk: { S: pk }, sk: { S: '/n1' } },
        ...(images
          ? {
              OldImage: { body: { S: JSON.stringify(images.old) } },
              NewImage: { body: { S: JSON.stringify(images.new) } },
            }
          : {}),
      },
    });

    const quiet = await handler({ Records: [record('Node', { old: node, new: heartbeatOnly })] }, {} as never);
    const busy = await handler(
      { Records: [record('Node', { old: node, new: heartbeatOnly }), record('Deployment')] },
      {} as never,
    );

    expect(quiet).toEqual({ ran: false });
    expect(busy).toEqual({ ran: true });
  });
});
