import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment, Node, Pod, ReplicaSet } from '../../../schemas';
import { lines, type SimulatedNodes, startSimulatedNodes, startTestPlane, type TestPlane } from './harness';

/** A Deployment manifest; `cpu` requests per pod, `deadline` is progressDeadlineSeconds. */
function manifest(
  name: string,
  o: { replicas?: number; image?: string; cpu?: string; deadline?: number } = {},
): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: o.replicas ?? 3,
      ...(o.deadline ? { progressDeadlineSeconds: o.deadline } : {}),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: o.image ?? 'ferry.local/busybox:1',
              ...(o.cpu ? { resources: { requests: { cpu: o.cpu } } } : {}),
            },
          ],
        },
      },
    },
  });
}

describe('ferry apply --wait, scale, rollout, cordon and drain against a simulated cluster', () => {
  let t: TestPlane;
  let nodes: SimulatedNodes;

  beforeAll(async () => {
    t = await startTestPlane({ controllers: true, resyncMs: 500 });
    nodes = await startSimulatedNodes(t, ['node-1', 'node-2'], { cpu: '2' });
  });

  afterAll(async () => {
    nodes?.stop();
    await t?.close();
  });

  const store = () => t.plane.store;
  const deployment = async (name: string) =>
    (await store().get<Deployment>({ kind: 'Deployment', namespace: 'default', name })) as Deployment;
  const podsOf = async (app: string) =>
    (await store().list<Pod>('Pod', { labelSelector: `app=${app}` })).items.filter(
      (p) => !p.metadata.deletionTimestamp,
    );

  it('apply --wait returns 0 once every pod of the new generation is available, printing progress', async () => {
    // act
    const first = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], { stdin: manifest('web') });
    const second = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], {
      stdin: manifest('web', { image: 'ferry.local/busybox:2' }),
    });

    // assess
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const out = lines(first.stdout);
    expect(out[0]).toBe('deployment.apps/web created');
    expect(out).toContainEqual(
      expect.stringMatching(/^deployment\.apps\/web: \d\/3 updated, \d\/3 ready, \d\/3 available$/),
    );
    expect(out.at(-1)).toBe('deployment.apps/web rolled out: 3/3 updated, 3/3 ready, 3/3 available');
    expect(second.code).toBe(0);
    expect(lines(second.stdout)[0]).toBe('deployment.apps/web configured');
    const d = await deployment('web');
    expect(d.status?.observedGeneration).toBe(d.metadata.generation);
    const images = (await podsOf('web')).map((p) => p.spec.containers[0]?.image);
    expect(images).toEqual(['ferry.local/busybox:2', 'ferry.local/busybox:2', 'ferry.local/busybox:2']);
  });

  it('apply --wait exits 1 with ProgressDeadlineExceeded and the scheduler reason when pods fit nowhere', async () => {
    // act
    const res = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], {
      stdin: manifest('huge', { replicas: 2, cpu: '64', deadline: 2 }),
    });

    // assess
    expect(res.code).toBe(1);
    const err = lines(res.stderr);
    expect(err[0]).toMatch(
      /^error: deployment "huge" exceeded its progress deadline: ReplicaSet "huge-\w+" has timed out progressing\. \(ProgressDeadlineExceeded\)$/,
    );
    expect(err[1]).toMatch(/^ {2}pod huge-\w+-\w+: Unschedulable: 0\/2 nodes are available: 2 Insufficient cpu\.$/);
  });

  it('apply --wait --timeout names what is missing and why', async () => {
    // act
    const res = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '2s'], {
      stdin: manifest('big', { replicas: 1, cpu: '3' }),
    });

    // assess
    expect(res.code).toBe(1);
    const err = lines(res.stderr);
    expect(err[0]).toBe(
      'error: timed out after 2s waiting for deployment "big": 1/1 updated, 0/1 ready, 0/1 available',
    );
    expect(err[1]).toMatch(
      /^ {2}pod big-[a-z0-9]+-[a-z0-9]+: Unschedulable: 0\/2 nodes are available: 2 Insufficient cpu/,
    );
  });

  it('scale writes replicas, honours --current-replicas, and rejects bad input', async () => {
    // prepare
    await t.ferry(['apply', '-f', '-'], { stdin: manifest('scaled', { replicas: 2 }) });

    // act
    const scaled = await t.ferry(['scale', 'deployment/scaled', '--replicas', '4']);
    const stale = await t.ferry(['scale', 'deploy', 'scaled', '--replicas', '1', '--current-replicas', '2']);
    const negative = await t.ferry(['scale', 'deploy/scaled', '--replicas', '-1']);
    const service = await t.ferry(['scale', 'svc/scaled', '--replicas', '1']);
    const missing = await t.ferry(['scale', 'deploy/nope', '--replicas', '1']);
    const status = await t.ferry(['rollout', 'status', 'deploy/scaled', '--timeout', '60s']);

    // assess
    expect(scaled).toEqual({ code: 0, stdout: 'deployment.apps/scaled scaled\n', stderr: '' });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe('error: expected 2 replicas of deployment.apps/scaled, found 4; nothing changed\n');
    expect(negative.code).toBe(2);
    expect(service.code).toBe(2);
    expect(service.stderr).toMatch(/service is not supported here: use deployment or replicaset/);
    expect(missing.code).toBe(1);
    expect(status.code).toBe(0);
    expect(lines(status.stdout).at(-1)).toBe('deployment "scaled" successfully rolled out');
    expect((await deployment('scaled')).spec.replicas).toBe(4);
    expect(await podsOf('scaled')).toHaveLength(4);
  });

  it('rollout history, undo, pause, resume and restart', async () => {
    // prepare
    await t.ferry(['apply', '-f', '-', '--wait'], { stdin: manifest('app', { replicas: 2, image: 'img:1' }) });
    await t.ferry(['apply', '-f', '-', '--wait'], { stdin: manifest('app', { replicas: 2, image: 'img:2' }) });

    // act
    const history = await t.ferry(['rollout', 'history', 'deployment/app']);
    const revision = await t.ferry(['rollout', 'history', 'deployment/app', '--revision', '1']);
    const undo = await t.ferry(['rollout', 'undo', 'deployment/app']);
    const undone = await t.ferry(['rollout', 'status', 'deployment/app', '--timeout', '60s']);
    const noSuch = await t.ferry(['rollout', 'undo', 'deployment/app', '--to-revision', '9']);
    const pause = await t.ferry(['rollout', 'pause', 'deployment/app']);
    const pausedAgain = await t.ferry(['rollout', 'pause', 'deployment/app']);
    const pausedStatus = await t.ferry(['rollout', 'status', 'deployment/app']);
    const resume = await t.ferry(['rollout', 'resume', 'deployment/app']);
    const restart = await t.ferry(['rollout', 'restart', 'deployment/app']);
    const restarted = await t.ferry(['rollout', 'status', 'deployment/app', '--timeout', '60s']);

    // assess
    expect(lines(history.stdout)).toEqual([
      'deployment.apps/app',
      expect.stringMatching(/^REVISION\s+CHANGE-CAUSE$/),
      expect.stringMatching(/^1\s+<none>$/),
      expect.stringMatching(/^2\s+<none>$/),
    ]);
    expect(revision.stdout).toMatch(/^deployment\.apps\/app with revision #1\n/);
    expect(revision.stdout).toMatch(/image: img:1/);
    expect(undo).toEqual({ code: 0, stdout: 'deployment.apps/app rolled back\n', stderr: '' });
    expect(undone.code).toBe(0);
    expect((await podsOf('app')).map((p) => p.spec.containers[0]?.image)).toEqual(['img:1', 'img:1']);
    expect(noSuch.code).toBe(1);
    expect(noSuch.stderr).toMatch(/rollbackTo\.revision: deployment "app" has no revision 9 \(revisions: 2, 3\)/);
    expect(pause.stdout).toBe('deployment.apps/app paused\n');
    expect(pausedAgain).toEqual({ code: 1, stdout: '', stderr: 'error: deployments.apps "app" is already paused\n' });
    expect(pausedStatus.code).toBe(1);
    expect(pausedStatus.stderr).toMatch(/deployment "app" is paused; resume it/);
    expect(resume.stdout).toBe('deployment.apps/app resumed\n');
    expect(restart.stdout).toBe('deployment.apps/app restarted\n');
    expect(restarted.code).toBe(0);
    const sets = (await store().list<ReplicaSet>('ReplicaSet', { labelSelector: 'app=app' })).items;
    expect(sets.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']).sort()).toEqual([
      '2',
      '3',
      '4',
    ]);
  });

  it('cordon keeps new pods off a node; drain moves its pods and refuses pods nothing would recreate', async () => {
    // prepare
    await t.ferry(['apply', '-f', '-', '--wait'], { stdin: manifest('spread', { replicas: 4 }) });
    await store().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'lonely', namespace: 'default' },
      spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'img' }] },
    } as Pod);

    // act
    const cordon = await t.ferry(['cordon', 'node-1']);
    const again = await t.ferry(['cordon', 'node-1']);
    const refused = await t.ferry(['drain', 'node-1']);
    const podsAfterRefusal = (await store().list<Pod>('Pod', { nodeName: 'node-1' })).items.length;
    const drained = await t.ferry(['drain', 'node-1', '--force', '--timeout', '60s']);
    const ready = await t.ferry(['rollout', 'status', 'deploy/spread', '--timeout', '60s']);
    const uncordon = await t.ferry(['uncordon', 'node-1']);
    const missing = await t.ferry(['cordon', 'node-9']);

    // assess
    expect(cordon.stdout).toBe('node/node-1 cordoned\n');
    expect(again.stdout).toBe('node/node-1 already cordoned\n');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot drain node "node-1": no pod was deleted/);
    expect(refused.stderr).toMatch(
      /cannot delete Pods that declare no controller \(use --force to override\): default\/lonely/,
    );
    expect(podsAfterRefusal).toBeGreaterThan(1);
    expect(drained.code).toBe(0);
    expect(lines(drained.stdout)).toContain('evicting pod default/lonely');
    expect(lines(drained.stdout).at(-1)).toBe('node/node-1 drained');
    expect(ready.code).toBe(0);
    expect((await store().list<Pod>('Pod', { nodeName: 'node-1' })).items).toEqual([]);
    expect((await podsOf('spread')).map((p) => p.spec.nodeName)).toEqual(['node-2', 'node-2', 'node-2', 'node-2']);
    expect(uncordon.stdout).toBe('node/node-1 uncordoned\n');
    expect((await store().get<Node>({ kind: 'Node', name: 'node-1' }))?.spec?.unschedulable).toBe(false);
    expect(missing.code).toBe(1);
  });
});
