/**
 * The pods section as a per-pod diff (schemas/agent-protocol.ts `heldPods`, `podsDiff`), through
 * the real agent loop and the in-process API: every change reaches the node however many answers
 * it missed (a pod deleted, replaced under its name, changed in place, set terminating), an
 * agent's own status report is not sent back to it, a restarted agent and the periodic full
 * resync are sent every pod, old agents and old servers still converge, and hostile versions are
 * refused or answered whole, never with a pod lost.
 */
import { describe, expect, it } from 'vitest';
import { FULL_RESYNC_MS } from '../../../agent/agent';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import { podVersion } from '../../../functions/api/agent/pods-diff';
import { MAX_HELD_PODS, type SyncRequest, type SyncResponse } from '../../../schemas/agent-protocol';
import { Harnessed, SETTLED, type Setup, setup } from './agent-protocol-harness';
import { pod } from './harness';

const PODS = '/api/v1/namespaces/default/pods';

type Meta = { uid: string; name: string; deletionTimestamp?: string; labels?: Record<string, string> };

/** What a node runs from a pod: the object without its status and the metadata a status write moves. */
function desiredOf(p: Record<string, unknown>) {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = p.metadata as Record<string, unknown>;
  return { ...p, metadata, status: undefined };
}

function byUid(pods: Record<string, unknown>[]) {
  return pods.map(desiredOf).sort((a, b) => String(a.metadata.uid).localeCompare(String(b.metadata.uid)));
}

/** Every pod of n1 as a fresh agent holding nothing would be sent them. */
async function truth(t: Setup): Promise<Record<string, unknown>[]> {
  const res = await t.sync();
  expect(res.status).toBe(200);
  return res.json.pods as Record<string, unknown>[];
}

async function create(t: Setup, name: string, nodeName = 'n1') {
  const res = await t.api.send('POST', PODS, { body: pod(name, { nodeName }) });
  expect(res.status).toBe(201);
  return res.json as Record<string, unknown> & { metadata: Meta };
}

async function change(t: Setup, name: string, edit: (p: Record<string, unknown>) => void) {
  const got = await t.api.send('GET', `${PODS}/${name}`);
  edit(got.json);
  const res = await t.api.send('PUT', `${PODS}/${name}`, { body: got.json });
  expect(res.status).toBe(200);
}

function lastPods(agent: Harnessed): SyncResponse | undefined {
  return [...agent.answers].reverse().find((a) => a.pods || a.podsDiff);
}

async function settle(t: Setup, agent: Harnessed) {
  t.api.now.ms += SETTLED;
  await agent.agent.syncOnce();
}

describe('agent protocol: the pods as a per-pod diff', () => {
  it('brings every change to an agent that missed answers, as diffs holding only what changed', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    const keep = await create(t, 'keep');
    for (const name of ['gone', 'renamed', 'edited', 'labelled', 'ending']) await create(t, name);
    const agent = new Harnessed(t.api, t.token);
    await settle(t, agent);
    await settle(t, agent);

    // act: each change made while the agent syncs nothing
    await t.api.send('DELETE', `${PODS}/gone`, { query: { gracePeriodSeconds: '0' } });
    await t.api.send('DELETE', `${PODS}/renamed`, { query: { gracePeriodSeconds: '0' } });
    const replaced = await create(t, 'renamed');
    await change(t, 'edited', (p) => {
      const spec = p.spec as { containers: { image: string }[] };
      (spec.containers[0] as { image: string }).image = 'ferry.local/busybox:2';
    });
    await change(t, 'labelled', (p) => {
      (p.metadata as Meta).labels = { tier: 'web' };
    });
    await t.api.send('DELETE', `${PODS}/ending`);
    await create(t, 'added');
    await settle(t, agent);

    // assess
    expect(byUid(agent.desired)).toEqual(byUid(await truth(t)));
    const held = agent.desired.map((p) => p.metadata as Meta);
    expect(held.find((m) => m.name === 'renamed')?.uid).toBe(replaced.metadata.uid);
    expect(held.find((m) => m.name === 'ending')?.deletionTimestamp).toBeDefined();
    expect(held.map((m) => m.name).sort()).toEqual(['added', 'edited', 'ending', 'keep', 'labelled', 'renamed']);
    const diffs = agent.answers.filter((a) => a.podsDiff);
    expect(diffs.length).toBeGreaterThan(0);
    // The pod nothing happened to is never sent again.
    for (const a of diffs)
      expect(a.podsDiff?.pods.map((p) => (p.metadata as Meta).uid)).not.toContain(keep.metadata.uid);
  });

  it('answers a pod added to a node of ten with that pod alone, a small part of the bytes of every pod', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    for (let i = 0; i < 10; i++) await create(t, `p${i}`);
    t.api.now.ms += SETTLED;
    const first = await t.sync();
    await create(t, 'p10');
    t.api.now.ms += SETTLED;

    // act
    const diff = await t.syncAfter(first, { heldPods: first.json.podVersions as string[] });
    const whole = await t.syncAfter(first);

    // assess
    const bytes = (res: { json: Record<string, unknown> }) => JSON.stringify(res.json).length;
    expect((diff.json.podsDiff as { pods: unknown[] }).pods).toHaveLength(1);
    expect(whole.json.pods).toHaveLength(11);
    console.log(`pods answer at 11 pods: ${bytes(whole)} bytes whole, ${bytes(diff)} as a diff`);
    expect(bytes(diff)).toBeLessThan(bytes(whole) / 5);
  });

  it('does not send an agent its own status report back when other pods of its node move', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    const web = await create(t, 'web');
    t.api.now.ms += SETTLED;
    const first = await t.sync();
    const ref = { namespace: 'default', name: 'web', uid: web.metadata.uid };
    const reported = await t.syncAfter(first, {
      heldPods: first.json.podVersions as string[],
      podStatuses: [{ pod: ref, status: { phase: 'Running', podIP: '10.1.0.5' } }],
    });
    const other = await create(t, 'other');
    t.api.now.ms += SETTLED;

    // act
    const res = await t.syncAfter(reported, { heldPods: first.json.podVersions as string[] });

    // assess
    expect(reported.status).toBe(200);
    const diff = res.json.podsDiff as SyncResponse['podsDiff'];
    expect(diff?.pods.map((p) => (p.metadata as Meta).uid)).toEqual([other.metadata.uid]);
    expect(diff?.removed).toEqual([]);
    expect(res.json.pods).toBeUndefined();
  });

  it('sends every pod to a restarted agent and at the periodic full resync, and the diff again after', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'a');
    const agent = new Harnessed(t.api, t.token);
    await settle(t, agent);

    // act
    t.api.now.ms += FULL_RESYNC_MS + 1;
    await create(t, 'b');
    await settle(t, agent);
    const resync = agent.requests.at(-1) as SyncRequest;
    await create(t, 'c');
    await settle(t, agent);
    const restarted = new Harnessed(t.api, t.token);
    await restarted.agent.syncOnce();

    // assess
    expect(resync.versions?.pods).toBeUndefined();
    expect(resync.heldPods).toBeUndefined();
    expect(agent.answers.at(-2)?.pods).toHaveLength(2);
    expect(agent.requests.at(-1)?.heldPods).toHaveLength(2);
    expect(lastPods(agent)?.podsDiff?.pods).toHaveLength(1);
    expect(restarted.requests[0]?.heldPods).toBeUndefined();
    expect(byUid(restarted.desired)).toEqual(byUid(agent.desired));
    expect(byUid(agent.desired)).toEqual(byUid(await truth(t)));
  });

  it('answers an agent that names no pod versions (an older one) with every pod, as before, less managedFields', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'a');
    t.api.now.ms += SETTLED;
    const first = await t.sync();
    await create(t, 'b');
    t.api.now.ms += SETTLED;

    // act
    const res = await t.syncAfter(first);

    // assess
    expect(res.json.podsDiff).toBeUndefined();
    expect((res.json.pods as unknown[]).length).toBe(2);
    expect(res.json.podVersions).toHaveLength(2);
    // Without managedFields, which no agent reads (a third of a pod's bytes).
    for (const p of res.json.pods as { metadata: Record<string, unknown> }[])
      expect(p.metadata).not.toHaveProperty('managedFields');
  });

  it('converges against an older server, and after the server is replaced by an older one mid-life', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'a');
    const old = new Harnessed(t.api, t.token, { oldServer: true });
    const wire = { oldServer: false };
    const downgraded = new Harnessed(t.api, t.token, wire);
    await settle(t, old);
    await settle(t, downgraded);

    // act
    await create(t, 'b');
    await settle(t, old);
    wire.oldServer = true;
    await create(t, 'c');
    t.api.now.ms += SETTLED;
    const refused = await downgraded.agent.syncOnce().then(
      () => false,
      () => true,
    );
    await downgraded.agent.syncOnce();
    await downgraded.agent.syncOnce();
    await old.agent.syncOnce();

    // assess
    expect(old.requests.some((r) => r.heldPods)).toBe(false);
    expect(refused).toBe(true);
    expect(downgraded.requests.at(-1)?.heldPods).toBeUndefined();
    const all = byUid(await truth(t));
    expect(byUid(old.desired)).toEqual(all);
    expect(byUid(downgraded.desired)).toEqual(all);
  });

  it('answers versions of pods the node does not hold (another node, made up) with its own pods, those versions removed', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'mine');
    const theirs = await create(t, 'theirs', 'n2');
    t.api.now.ms += SETTLED;
    const first = await t.sync();
    const stored = await t.api.deps.store.get({ kind: 'Pod', namespace: 'default', name: 'theirs' });
    const foreign = podVersion(stored as NonNullable<typeof stored>);
    const versions = { ...(first.json.versions as Record<string, string>), pods: 'stale' };

    // act
    const res = await t.sync({ versions, heldPods: [foreign, 'made-up', 'made-up', ''] });

    // assess
    expect(res.status).toBe(200);
    const diff = res.json.podsDiff as NonNullable<SyncResponse['podsDiff']>;
    expect(byUid(diff.pods)).toEqual(byUid(first.json.pods as Record<string, unknown>[]));
    expect(diff.pods.map((p) => (p.metadata as Meta).uid)).not.toContain(theirs.metadata.uid);
    expect(diff.removed.sort()).toEqual(['', foreign, 'made-up'].sort());
  });

  it('sends every pod when versions are named without the pods version they belong to', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'a');
    t.api.now.ms += SETTLED;
    const first = await t.sync();

    // act
    const res = await t.sync({ heldPods: first.json.podVersions as string[] });

    // assess
    expect(res.json.podsDiff).toBeUndefined();
    expect(res.json.pods).toHaveLength(1);
  });

  it('refuses absurdly many or malformed pod versions with 422, writing nothing', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'a');
    const before = await t.api.snapshot();
    const bodies = [
      { heldPods: Array.from({ length: MAX_HELD_PODS + 1 }, (_, i) => `v${i}`) },
      { heldPods: ['x'.repeat(33)] },
      { heldPods: [7] },
      { heldPods: 'v1 v2' },
      { heldPods: [{ uid: 'a' }] },
    ];

    // act
    const answers = await Promise.all(bodies.map((b) => t.sync({ versions: { pods: 'p' }, ...b } as SyncRequest)));

    // assess
    for (const res of answers) expect(res.status).toBe(422);
    expect(await t.api.snapshot()).toBe(before);
  });

  it('names a pod by a version that its status writes do not move and its spec, labels, uid and deletion do', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await create(t, 'web');
    const get = async () =>
      (await t.api.deps.store.get({ kind: 'Pod', namespace: 'default', name: 'web' })) as NonNullable<
        Awaited<ReturnType<typeof t.api.deps.store.get>>
      >;
    const base = await get();

    // act
    const withStatus = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: '999' },
      status: { phase: 'Running' },
    };
    // Each a write of its own (a version is remembered by uid and resourceVersion).
    const relabelled = { ...base, metadata: { ...base.metadata, resourceVersion: '1001', labels: { a: 'b' } } };
    const renewed = { ...base, metadata: { ...base.metadata, uid: 'another' } };
    const deleting = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: '1002', deletionTimestamp: '2026-12-01T00:00:00Z' },
    };
    const reimaged = JSON.parse(JSON.stringify({ ...base, metadata: { ...base.metadata, resourceVersion: '1003' } }));
    reimaged.spec.containers[0].image = 'ferry.local/busybox:2';

    // assess
    expect(podVersion(withStatus)).toBe(podVersion(base));
    for (const moved of [relabelled, renewed, deleting, reimaged]) expect(podVersion(moved)).not.toBe(podVersion(base));
  });
});
