/**
 * The agent's held pods (agent/held-pods.ts): how a full list and a diff change what the pod
 * manager is given, and when the agent names versions in its next sync.
 */
import { describe, expect, it } from 'vitest';
import { HeldPods } from '../../../agent/held-pods';
import { MAX_HELD_PODS, type SyncResponse } from '../../../schemas/agent-protocol';

const pod = (uid: string, image = 'app:1') => ({ metadata: { uid, name: uid }, spec: { containers: [{ image }] } });
const answer = (extra: Partial<SyncResponse>): SyncResponse => ({
  versions: { pods: 'p', config: 'c', logs: 'l', routes: '1' },
  nodeStatusUpdateSeconds: 60,
  leaseRenewedAt: 1,
  ...extra,
});

describe('the pods an agent holds', () => {
  it('replaces a changed pod by its new version, and drops only pods whose version the diff removes', () => {
    // prepare
    const held = new HeldPods();
    held.take(answer({ pods: [pod('a'), pod('b'), pod('c')], podVersions: ['va', 'vb', 'vc'] }));

    // act
    const took = held.take(
      answer({ podsDiff: { pods: [pod('a', 'app:2')], versions: ['va2'], removed: ['va', 'vb'] } }),
    );

    // assess
    expect(took).toBe(true);
    expect(held.list()).toEqual([pod('a', 'app:2'), pod('c')]);
    expect(held.versions()).toEqual(['va2', 'vc']);
  });

  it('leaves what it holds when an answer carries no pods section', () => {
    // prepare
    const held = new HeldPods();
    held.take(answer({ pods: [pod('a')], podVersions: ['va'] }));

    // act
    const took = held.take(answer({}));

    // assess
    expect(took).toBe(false);
    expect(held.list()).toEqual([pod('a')]);
  });

  it('names no versions to a server that gave none or gave them for some pods only, and keeps its pods', () => {
    // prepare
    const old = new HeldPods();
    const partial = new HeldPods();

    // act
    old.take(answer({ pods: [pod('a')] }));
    partial.take(answer({ pods: [pod('a'), pod('b')], podVersions: ['va'] }));
    // A diff it did not ask for drops nothing it holds without a version.
    old.take(answer({ podsDiff: { pods: [pod('b')], versions: ['vb'], removed: ['va', 'undefined'] } }));

    // assess
    expect(old.list()).toEqual([pod('a'), pod('b')]);
    expect(old.versions()).toBeUndefined();
    expect(partial.versions()).toBeUndefined();
  });

  it('stops naming versions after a refused sync until a server names them again', () => {
    // prepare
    const held = new HeldPods();
    held.take(answer({ pods: [pod('a')], podVersions: ['va'] }));

    // act
    held.unname();
    const refused = held.versions();
    held.take(answer({ pods: [pod('a')], podVersions: ['va'] }));

    // assess
    expect(refused).toBeUndefined();
    expect(held.versions()).toEqual(['va']);
  });

  it('names no versions when it holds more pods than a sync may name, so it is sent them whole', () => {
    // prepare
    const held = new HeldPods();
    const many = Array.from({ length: MAX_HELD_PODS + 1 }, (_, i) => pod(`p${i}`));

    // act
    held.take(answer({ pods: many, podVersions: many.map((p) => `v${p.metadata.uid}`) }));

    // assess
    expect(held.list()).toHaveLength(MAX_HELD_PODS + 1);
    expect(held.versions()).toBeUndefined();
  });
});
