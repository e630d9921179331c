/**
 * `ferry drain` through the Eviction API against a simulated cluster: it waits while a
 * PodDisruptionBudget allows no disruption and finishes once the replacement is Ready elsewhere;
 * DaemonSet pods are refused, or left in place with --ignore-daemonsets, as kubectl drain does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../../schemas';
import { lines, type SimulatedNodes, startSimulatedNodes, startTestPlane, type TestPlane } from './harness';

const deployment = (name: string, replicas: number) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      },
    },
  });

describe('ferry drain through evictions and budgets', () => {
  let t: TestPlane;
  let nodes: SimulatedNodes;

  beforeAll(async () => {
    t = await startTestPlane({ controllers: true, resyncMs: 500 });
    nodes = await startSimulatedNodes(t, ['node-1', 'node-2'], { cpu: '4', startDelayMs: 1_500 });
  });

  afterAll(async () => {
    nodes?.stop();
    await t?.close();
  });

  const ready = async (app: string) =>
    (await t.plane.store.list<Pod>('Pod', { labelSelector: `app=${app}` })).items.filter(
      (p) =>
        !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );

  it('waits while the budget allows no disruption and completes when the replacement is Ready elsewhere', async () => {
    // prepare: both replicas on node-1, a budget that keeps one of them up
    await t.ferry(['cordon', 'node-2']);
    await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], { stdin: deployment('guarded', 2) });
    await t.ferry(['uncordon', 'node-2']);
    const budget = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'guarded' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    };
    expect((await t.ferry(['apply', '-f', '-'], { stdin: JSON.stringify(budget) })).code).toBe(0);
    let fewest = 2;
    const watch = setInterval(async () => {
      fewest = Math.min(fewest, (await ready('guarded')).length);
    }, 100);

    // act
    const drained = await t.ferry(['drain', 'node-1', '--timeout', '60s']);
    clearInterval(watch);

    // assess
    expect(drained.code, drained.stderr).toBe(0);
    const out = lines(drained.stdout);
    expect(out).toContainEqual(
      expect.stringMatching(
        /^error when evicting pods\/"guarded-.+" -n "default" \(will retry after 1s\): Cannot evict pod as it would violate the pod's disruption budget\.$/,
      ),
    );
    expect(out.at(-1)).toBe('node/node-1 drained');
    expect(fewest).toBeGreaterThanOrEqual(1);
    const until = Date.now() + 30_000;
    while ((await ready('guarded')).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect((await ready('guarded')).map((p) => p.spec.nodeName)).toEqual(['node-2', 'node-2']);
  }, 90_000);

  it('refuses DaemonSet pods without --ignore-daemonsets, and leaves them in place with it', async () => {
    // prepare
    await t.ferry(['uncordon', 'node-1']);
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
        },
      },
    };
    await t.ferry(['apply', '-f', '-'], { stdin: JSON.stringify(ds) });
    const deadline = Date.now() + 30_000;
    while ((await ready('agent')).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

    const status = await t.ferry(['rollout', 'status', 'daemonset/agent', '--timeout', '30s']);

    // act
    const refused = await t.ferry(['drain', 'node-2']);
    const drained = await t.ferry(['drain', 'node-2', '--ignore-daemonsets', '--timeout', '60s']);

    // assess
    const described = await t.ferry(['describe', 'pdb', 'guarded']);
    const table = await t.ferry(['get', 'ds']);
    const dsDescribed = await t.ferry(['describe', 'ds', 'agent']);
    expect(described.stdout).toMatch(/Min available:\s+1/);
    expect(described.stdout).toMatch(/Allowed disruptions:\s+\d/);
    expect(lines(table.stdout)[0]).toMatch(
      /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE$/,
    );
    expect(lines(table.stdout)[1]).toMatch(/^agent\s+2\s+2\s+2\s+2\s+2\s+<none>\s+/);
    expect(dsDescribed.stdout).toMatch(/Desired Number of Nodes Scheduled:\s+2/);
    expect(status.code, status.stderr).toBe(0);
    expect(lines(status.stdout).at(-1)).toBe('daemon set "agent" successfully rolled out');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /cannot delete DaemonSet-managed Pods \(use --ignore-daemonsets to ignore\): default\/agent-/,
    );
    expect(drained.code, drained.stdout).toBe(0);
    expect(lines(drained.stdout)).toContainEqual(
      expect.stringMatching(/^Warning: ignoring DaemonSet-managed Pods: default\/agent-/),
    );
    expect((await ready('agent')).map((p) => p.spec.nodeName).sort()).toEqual(['node-1', 'node-2']);
  }, 90_000);
});
