/**
 * End-to-end on real Docker: a DaemonSet covers a node that joins later, and `ferry drain` waits
 * for a PodDisruptionBudget (blocked while it allows no disruption, done once a replacement is
 * Ready on another node), leaving the DaemonSet's pod on the drained node.
 */
import { expect, it } from 'vitest';
import type { DaemonSet, Deployment } from '../../schemas';
import { ferry } from '../integration/cli/harness';
import { appContainers, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { httpdContainer } from './helpers/workloads';

const httpd = (name: string) => httpdContainer({ name, reply: 'ok', port: false });

const daemonSet = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'node-agent', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'node-agent' } },
    template: {
      metadata: { labels: { app: 'node-agent' } },
      spec: { terminationGracePeriodSeconds: 1, containers: [httpd('agent')] },
    },
  },
};

const guarded = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'guarded', namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'guarded' } },
    template: {
      metadata: { labels: { app: 'guarded' } },
      spec: { terminationGracePeriodSeconds: 1, containers: [httpd('web')] },
    },
  },
};

describeDocker('e2e: DaemonSets and drain through PodDisruptionBudgets on real Docker', () => {
  const c = useCluster(2);

  it('runs a DaemonSet pod on every node, and on a node that joins later', async () => {
    // prepare
    await c.post('/apis/apps/v1/namespaces/default/daemonsets', daemonSet);
    await c.waitFor(async () => (await c.readyPods('node-agent-')).length === 2, 60_000, '2 daemon pods ready');

    // act
    await c.addNode('e2e-3', 'z3');
    const took = await c.waitFor(
      async () => (await c.readyPods('node-agent-')).some((p) => p.spec.nodeName === 'e2e-3'),
      60_000,
      'a daemon pod ready on the new node',
    );

    // assess
    const pods = await c.readyPods('node-agent-');
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual(['e2e-1', 'e2e-2', 'e2e-3']);
    for (const p of pods) expect(appContainers(p)).toHaveLength(1);
    // The controller writes the DaemonSet's status on its pass after the pods turned Ready.
    const dsStatus = async () =>
      (JSON.parse((await c.get('/apis/apps/v1/namespaces/default/daemonsets/node-agent')).text) as DaemonSet).status;
    await c.waitFor(async () => (await dsStatus())?.numberReady === 3, 30_000, 'the DaemonSet counting 3 ready');
    expect(await dsStatus()).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3 });
    expect(took).toBeLessThan(60_000);
  }, 150_000);

  it('ferry drain waits while the budget allows no disruption and completes once a replacement is Ready elsewhere', async () => {
    // prepare: one replica under minAvailable 1: its eviction is refused until a second one is Ready
    await c.post('/apis/apps/v1/namespaces/default/deployments', guarded);
    await c.post('/apis/policy/v1/namespaces/default/poddisruptionbudgets', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'guarded', namespace: 'default' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    });
    await c.waitFor(async () => (await c.readyPods('guarded-')).length === 1, 60_000, 'the guarded pod ready');
    const node = (await c.readyPods('guarded-'))[0]?.spec.nodeName as string;
    let fewest = 1;
    const watch = setInterval(async () => {
      fewest = Math.min(fewest, (await c.readyPods('guarded-')).length);
    }, 200);

    // act
    let output = '';
    const draining = ferry(['drain', node, '--ignore-daemonsets', '--timeout', '120s'], {
      env: c.cliEnv(),
      onOutput: (out) => {
        output = out;
      },
    });
    await c.waitFor(async () => output.includes('Cannot evict pod'), 30_000, 'a refused eviction');
    await new Promise((r) => setTimeout(r, 3_000));
    const blockedWhile = (await c.pods('guarded-')).filter((p) => p.metadata.deletionTimestamp).length;
    await c.patch('/apis/apps/v1/namespaces/default/deployments/guarded', { spec: { replicas: 2 } });
    const drained = await draining;
    clearInterval(watch);

    // assess
    expect(blockedWhile).toBe(0);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toContain(`node/${node} drained`);
    expect(fewest).toBe(1);
    await c.waitFor(async () => (await c.readyPods('guarded-')).length === 2, 60_000, '2 guarded pods ready');
    expect((await c.readyPods('guarded-')).every((p) => p.spec.nodeName !== node)).toBe(true);
    expect((await c.readyPods('node-agent-')).some((p) => p.spec.nodeName === node)).toBe(true);
    const d = JSON.parse((await c.get('/apis/apps/v1/namespaces/default/deployments/guarded')).text) as Deployment;
    expect(d.status?.readyReplicas).toBe(2);
  }, 180_000);
});
