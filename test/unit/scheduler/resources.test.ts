/**
 * Container resources besides cpu and memory: ephemeral-storage requests and extended resources
 * are scheduled against what nodes offer (kube-scheduler's NodeResourcesFit), and the names ferry
 * cannot honour are refused at the API with the field named.
 */
import { describe, expect, it } from 'vitest';
import { buildNodeStatus } from '../../../agent/node-status';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { MemoryStore } from '../../../functions/store/memory';
import type { Node, Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';
import { startApi } from '../api/harness';

function setup() {
  const store = new MemoryStore(() => 1_700_000_000_000);
  const deps: Deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
  return { store, deps };
}

function offering(node: Node, extra: Record<string, string>): Node {
  const status = node.status as NonNullable<Node['status']>;
  status.allocatable = { ...status.allocatable, ...extra };
  status.capacity = { ...status.capacity, ...extra };
  return node;
}

function asking(pod: Pod, requests: Record<string, string>, limits: Record<string, string> = {}): Pod {
  const c = pod.spec.containers[0] as Pod['spec']['containers'][number];
  c.resources = { requests: { ...c.resources?.requests, ...requests }, limits };
  return pod;
}

const nodeOf = async (store: MemoryStore, name: string) =>
  (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name }))?.spec.nodeName;

describe('scheduling resources besides cpu and memory', () => {
  it('counts ephemeral-storage requests against the node’s, across passes', async () => {
    const { store, deps } = setup();
    await store.create(offering(makeNode('small'), { 'ephemeral-storage': '10Gi' }));
    await store.create(offering(makeNode('big'), { 'ephemeral-storage': '100Gi' }));
    await store.create(asking(makePod('a'), { 'ephemeral-storage': '30Gi' }));
    await schedulePass(deps);
    await store.create(asking(makePod('b'), { 'ephemeral-storage': '60Gi' }));
    await store.create(asking(makePod('c'), { 'ephemeral-storage': '20Gi' }));
    await schedulePass(deps);

    expect(await nodeOf(store, 'a')).toBe('big');
    expect(await nodeOf(store, 'b')).toBe('big');
    expect(await nodeOf(store, 'c')).toBeUndefined();
    const events = (await store.list('Event')).items.filter((e) => e.reason === 'FailedScheduling');
    expect(String(events[0]?.message)).toContain('Insufficient ephemeral-storage');
  });

  it('places a pod asking for an extended resource only where a node advertises enough of it', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('plain'));
    await store.create(offering(makeNode('gpu'), { 'example.com/gpu': '1' }));
    await store.create(asking(makePod('train'), { 'example.com/gpu': '1' }, { 'example.com/gpu': '1' }));
    await store.create(asking(makePod('train-2'), { 'example.com/gpu': '1' }, { 'example.com/gpu': '1' }));

    await schedulePass(deps);

    const placed = [await nodeOf(store, 'train'), await nodeOf(store, 'train-2')];
    expect(placed.filter((n) => n === 'gpu')).toHaveLength(1);
    expect(placed.filter((n) => n === undefined)).toHaveLength(1);
    const events = (await store.list('Event')).items.filter((e) => e.reason === 'FailedScheduling');
    expect(String(events[0]?.message)).toContain('Insufficient example.com/gpu');
  });

  it('an agent reports its disk as ephemeral-storage', () => {
    const status = buildNodeStatus({
      config: { cpu: '2', memory: '1Gi', maxPods: 110, stateDir: '/tmp', nodeIp: '127.0.0.1', nodeName: 'n' } as never,
      runtimeVersion: 'fake',
      ready: true,
      readyMessage: '',
      now: new Date(0),
    });
    expect(status.allocatable['ephemeral-storage']).toMatch(/^\d+Ki$/);
  });
});

describe('container resource names at the API', () => {
  const cases: [string, Record<string, Record<string, string>>, string][] = [
    [
      'hugepages',
      { limits: { 'hugepages-2Mi': '100Mi' }, requests: { 'hugepages-2Mi': '100Mi' } },
      'limits[hugepages-2Mi]',
    ],
    ['an ephemeral-storage limit', { limits: { 'ephemeral-storage': '1Gi' } }, 'limits[ephemeral-storage]'],
    ['a name that is no container resource', { requests: { storage: '1Gi' } }, 'requests[storage]'],
    ['a kubernetes.io name', { requests: { 'kubernetes.io/foo': '1' } }, 'requests[kubernetes.io/foo]'],
    ['an extended resource without a limit', { requests: { 'example.com/gpu': '1' } }, 'requests[example.com/gpu]'],
    [
      'an extended request above its limit',
      { requests: { 'example.com/gpu': '2' }, limits: { 'example.com/gpu': '1' } },
      'requests[example.com/gpu]',
    ],
    ['a fractional extended resource', { limits: { 'example.com/gpu': '500m' } }, 'limits[example.com/gpu]'],
  ];

  for (const [what, resources, field] of cases) {
    it(`refuses ${what} with a 422 naming the field`, async () => {
      const api = await startApi();
      const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'c', image: 'x', resources }] },
        },
      });
      expect(res.status).toBe(422);
      expect(res.json.details?.causes?.map((c) => c.field)).toContain(`spec.containers[0].resources.${field}`);
    });
  }

  it('accepts ephemeral-storage requests and an extended resource whose request equals its limit', async () => {
    const api = await startApi();
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: {
          containers: [
            {
              name: 'c',
              image: 'x',
              resources: {
                requests: { 'ephemeral-storage': '2Gi', 'example.com/gpu': '1' },
                limits: { 'example.com/gpu': '1' },
              },
            },
          ],
        },
      },
    });
    expect(res.status).toBe(201);
  });
});
