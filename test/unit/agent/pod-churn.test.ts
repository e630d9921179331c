/**
 * Agents that do not grow (issue 19): rounds of pods created, replaced and deleted through the pod
 * manager leave nothing of a gone pod behind: no record, no token, no state dir, no container,
 * and the host-port map holds only the pods that run.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodManager } from '../../../agent/pods/manager';
import { PodTokens } from '../../../agent/pods/service-account';
import type { Pod } from '../../../schemas/pod';
import { pod, startManager, until } from './pod-harness';

const log = { debug() {}, info() {}, warn() {}, error() {} };

function tokenKeeper(stateDir: string) {
  return new PodTokens({
    stateDir,
    fetch: async (ref) => ({
      automount: true,
      token: `token-${ref.uid}`,
      expirationTimestamp: new Date(Date.now() + 3600_000).toISOString(),
      namespace: ref.namespace,
    }),
    caCert: () => 'ca',
    now: Date.now,
    log,
  });
}

const held = (m: PodManager) => (m as unknown as { records: Map<string, unknown> }).records;
const tokensHeld = (t: PodTokens) => (t as unknown as { held: Map<string, unknown> }).held;

describe('pod manager under churn', () => {
  it('keeps nothing of deleted pods after many rounds of create, replace and delete', async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-churn-'));
    const tokens = tokenKeeper(stateDir);
    const { m, runtime } = await startManager({
      stateDir,
      drainSettleMs: 0,
      inCluster: { env: () => [], hostAliases: () => [], tokens },
    });
    const bound = new Map<string, Record<string, unknown>>();
    let seq = 0;
    const add = () => {
      const n = ++seq;
      const p = pod(
        { containers: [{ name: 'app', image: 'img', ports: [{ containerPort: 80, hostPort: 30000 + n }] }] },
        { name: `web-${n}`, uid: `uid-${n}` },
      );
      bound.set(`uid-${n}`, p);
    };
    const running = () =>
      [...bound.keys()].every((uid) =>
        m.changedStatuses().some((s) => s.pod.uid === uid && s.status.phase === 'Running'),
      );

    // act: 15 rounds of 4 pods started, then deleted gracefully (reported, then dropped) or with force
    for (let round = 0; round < 15; round++) {
      for (let i = 0; i < 4; i++) add();
      m.setDesired([...bound.values()]);
      await until(running, 'the round running');
      const [graceful, forced] = [[...bound.values()].slice(0, 2), [...bound.values()].slice(2)];
      for (const p of graceful) {
        const meta = (p as unknown as Pod).metadata;
        meta.deletionTimestamp = new Date().toISOString();
        meta.deletionGracePeriodSeconds = 0;
      }
      for (const p of forced) bound.delete((p as unknown as Pod).metadata.uid as string);
      m.setDesired([...bound.values()]);
      await until(() => m.terminated().length === 2, 'the graceful deletions stopped');
      const done = m.terminated();
      m.markReported([], done);
      for (const t of done) bound.delete(t.uid);
      m.setDesired([...bound.values()]);
      await until(() => held(m).size === 0, 'every record dropped');
    }

    // assess
    expect(held(m).size).toBe(0);
    expect(tokensHeld(tokens).size).toBe(0);
    expect(runtime.containers.size).toBe(0);
    expect(m.podBehind(30001)).toBeUndefined();
    const podDirs = join(stateDir, 'pods');
    expect(existsSync(podDirs) ? readdirSync(podDirs) : []).toEqual([]);
  }, 30_000);
});
