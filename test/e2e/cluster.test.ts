/**
 * End-to-end on real Docker: a 3-node local cluster (control plane in this process, three agent
 * processes) running real containers. Tests run in order on one cluster, as a user's day would.
 */
import { expect, it } from 'vitest';
import type { Deployment, Job, Pod } from '../../schemas';
import { applyDefaults } from '../../schemas';
import { appContainers, docker, type TestCluster, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

function web(name: string, replicas: number, image = 'ferry.local/busybox:1'): Deployment {
  return applyDefaults({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'httpd',
              image,
              command: ['sh', '-c', 'echo "$(hostname)" > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  } as Deployment);
}

function pod(name: string, spec: Pod['spec']): Pod {
  return applyDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec } as Pod);
}

async function removeDeployment(c: TestCluster, name: string): Promise<void> {
  await c.store.delete({ kind: 'Deployment', namespace: 'default', name }).catch(() => undefined);
  await c.waitFor(async () => (await c.pods(`${name}-`)).length === 0, 30_000, `${name} pods gone`);
}

describeDocker('e2e: a local cluster on real Docker', () => {
  const c = useCluster(3);

  it('runs a 6-replica Deployment as 2 pods per node', async () => {
    await c.store.create(web('web', 6));
    await c.waitFor(async () => (await c.readyPods('web-')).length === 6, 60_000, '6 ready pods');
    const perNode = new Map<string, number>();
    for (const p of await c.readyPods('web-'))
      perNode.set(p.spec.nodeName as string, (perNode.get(p.spec.nodeName as string) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    for (const p of await c.readyPods('web-')) expect(appContainers(p)).toHaveLength(1);
  }, 90_000);

  it('restarts a killed container and counts the restart', async () => {
    const victim = (await c.readyPods('web-'))[0] as Pod;
    docker('kill', appContainers(victim)[0] as string);
    await c.waitFor(
      async () => {
        const p = (await c.pods(victim.metadata.name))[0];
        return p?.status?.containerStatuses?.[0]?.restartCount === 1 && p.status.containerStatuses[0].ready === true;
      },
      30_000,
      'restartCount 1 and ready again',
    );
  }, 40_000);

  it('adopts running containers after an agent restart: same container IDs, node Ready', async () => {
    const before = new Map((await c.readyPods('web-')).map((p) => [p.metadata.name, appContainers(p).join()]));
    const node = 'e2e-1';
    process.kill(c.provider.pidOf(node) as number, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    c.provider.restartAgent(node);
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await c.readyNodes()).toContain(node);
    const after = new Map((await c.readyPods('web-')).map((p) => [p.metadata.name, appContainers(p).join()]));
    expect(after).toEqual(before);
  }, 30_000);

  it('keeps every container running while the control plane is down for 30 s, then converges', async () => {
    const running = docker('ps', '-q', '--filter', 'label=ferry.managed=true').split('\n').filter(Boolean).sort();
    await c.stopControlPlane();
    await new Promise((r) => setTimeout(r, 30_000));
    const still = docker('ps', '-q', '--filter', 'label=ferry.managed=true').split('\n').filter(Boolean).sort();
    expect(still).toEqual(running);
    await c.startControlPlane();
    await c.waitFor(
      async () => (await c.readyNodes()).length === 3 && (await c.readyPods('web-')).length === 6,
      40_000,
      'cluster converged',
    );
  }, 90_000);

  it('rolls out a new image with maxUnavailable 0 without ever dropping below 6 ready pods', async () => {
    const d = (await c.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' })) as Deployment;
    const next = web('web', 6, 'ferry.local/busybox:2');
    await c.store.update({ ...d, spec: next.spec });
    let minReady = 6;
    await c.waitFor(
      async () => {
        const ready = await c.readyPods('web-');
        minReady = Math.min(minReady, ready.length);
        return (
          ready.length === 6 &&
          ready.every((p) => p.spec.containers[0]?.image === 'ferry.local/busybox:2') &&
          (await c.pods('web-')).length === 6
        );
      },
      90_000,
      'rollout complete',
      100,
    );
    expect(minReady).toBeGreaterThanOrEqual(6);
  }, 100_000);

  it('moves the pods of a SIGKILLed agent to the other nodes within the failover bound', async () => {
    const node = 'e2e-3';
    const lost = (await c.readyPods('web-')).filter((p) => p.spec.nodeName === node).length;
    expect(lost).toBeGreaterThan(0);
    process.kill(c.provider.pidOf(node) as number, 'SIGKILL');
    const took = await c.waitFor(
      async () => {
        const ready = await c.readyPods('web-');
        return ready.length === 6 && ready.every((p) => p.spec.nodeName !== node);
      },
      30_000,
      'pods running elsewhere',
    );
    console.log(`failover: ${lost} pod(s) of ${node} Running elsewhere ${(took / 1000).toFixed(1)} s after SIGKILL`);
    expect(took).toBeLessThan(20_000);
    expect(await c.readyNodes()).not.toContain(node);
    c.provider.restartAgent(node);
    await c.waitFor(async () => (await c.readyNodes()).includes(node), 20_000, 'node back');
    await removeDeployment(c, 'web');
  }, 90_000);

  it('two containers of one pod share localhost and an emptyDir volume', async () => {
    await c.store.create(
      pod('sidecar', {
        volumes: [{ name: 'shared', emptyDir: {} }],
        containers: [
          {
            name: 'server',
            image: 'ferry.local/busybox:1',
            command: ['sh', '-c', 'echo from-server > /tmp/i && exec httpd -f -p 8080 -h /tmp'],
            ports: [{ containerPort: 8080 }],
          },
          {
            name: 'client',
            image: 'ferry.local/busybox:1',
            command: [
              'sh',
              '-c',
              'until wget -q -O /data/got http://127.0.0.1:8080/i; do sleep 0.2; done; exec sleep 3600',
            ],
            volumeMounts: [{ name: 'shared', mountPath: '/data' }],
            readinessProbe: { exec: { command: ['grep', '-q', 'from-server', '/data/got'] }, periodSeconds: 1 },
          },
          {
            name: 'reader',
            image: 'ferry.local/busybox:1',
            command: ['sleep', '3600'],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            readinessProbe: { exec: { command: ['grep', '-q', 'from-server', '/shared/got'] }, periodSeconds: 1 },
          },
        ],
      }),
    );
    await c.waitFor(async () => (await c.readyPods('sidecar')).length === 1, 30_000, 'sidecar pod ready');
  }, 40_000);

  it('gives containers env and files from a ConfigMap and a Secret, and updates the files in place', async () => {
    await c.store.create(
      applyDefaults({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'greet', namespace: 'default' },
        data: { GREETING: 'hello' },
      }),
    );
    await c.store.create(
      applyDefaults({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db', namespace: 'default' },
        data: { password: Buffer.from('s3cret').toString('base64') },
      }),
    );
    const check =
      'test "$GREETING" = hello && test "$DB_PASSWORD" = s3cret && test "$(cat /run/db/password)" = s3cret && test -f /etc/greet/GREETING';
    await c.store.create(
      pod('configured', {
        volumes: [
          { name: 'greet', configMap: { name: 'greet' } },
          { name: 'db', secret: { secretName: 'db', defaultMode: 0o400 } },
        ],
        containers: [
          {
            name: 'app',
            image: 'ferry.local/busybox:1',
            command: ['sh', '-c', 'echo "starting with $GREETING"; echo "a warning" >&2; exec sleep 3600'],
            envFrom: [{ configMapRef: { name: 'greet' } }],
            env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
            volumeMounts: [
              { name: 'greet', mountPath: '/etc/greet' },
              { name: 'db', mountPath: '/run/db' },
            ],
            readinessProbe: { exec: { command: ['sh', '-c', check] }, periodSeconds: 1 },
          },
        ],
      }),
    );
    await c.waitFor(async () => (await c.readyPods('configured')).length === 1, 30_000, 'configured pod ready');
    const [id] = appContainers((await c.pods('configured'))[0] as Pod);

    const cm = await c.store.get({ kind: 'ConfigMap', namespace: 'default', name: 'greet' });
    await c.store.update({ ...(cm as NonNullable<typeof cm>), data: { GREETING: 'bonjour' } } as never);
    await c.waitFor(
      async () => docker('exec', id as string, 'cat', '/etc/greet/GREETING') === 'bonjour',
      30_000,
      'mounted ConfigMap updated in the running container',
    );
    expect(docker('exec', id as string, 'sh', '-c', 'echo x > /etc/greet/new 2>/dev/null || echo read-only')).toBe(
      'read-only',
    );
    expect(appContainers((await c.pods('configured'))[0] as Pod)).toEqual([id]); // not restarted
    // Its output, relayed from its node through the API (what `ferry logs configured` prints).
    // stdout and stderr both; Docker orders lines written in the same instant only per stream.
    const logs = await c.get('/api/v1/namespaces/default/pods/configured/log');
    expect(logs.status).toBe(200);
    expect(logs.text.split('\n').sort()).toEqual(['', 'a warning', 'starting with hello']);
  }, 60_000);

  it('runs a Job to completion, keeps its output readable and frees its pod sandbox', async () => {
    await c.post('/apis/batch/v1/namespaces/default/jobs', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate' },
      spec: {
        completions: 2,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'migrate', image: 'ferry.local/busybox:1', command: ['sh', '-c', 'echo migrated'] }],
          },
        },
      },
    });
    await c.waitFor(
      async () => {
        const job = await c.store.get<Job>({ kind: 'Job', namespace: 'default', name: 'migrate' });
        return job?.status?.conditions?.some((x) => x.type === 'Complete' && x.status === 'True') ?? false;
      },
      60_000,
      'Job complete',
    );
    const pods = (await c.pods('migrate-')).filter((p) => p.metadata.labels?.['job-name'] === 'migrate');
    expect(pods.map((p) => p.status?.phase)).toEqual(['Succeeded', 'Succeeded']);
    for (const p of pods) {
      expect(await c.get(`/api/v1/namespaces/default/pods/${p.metadata.name}/log`)).toEqual({
        status: 200,
        text: 'migrated\n',
      });
      await c.waitFor(
        async () => docker('ps', '-q', '--filter', `label=ferry.pod.uid=${p.metadata.uid}`) === '',
        10_000,
        'sandbox of a finished pod removed',
      );
    }
  }, 90_000);

  it('shows CrashLoopBackOff with growing delays for a crashing command', async () => {
    await c.store.create(
      pod('crasher', {
        containers: [
          { name: 'c', image: 'ferry.local/busybox:1', command: ['sh', '-c', 'echo "failing: no database"; exit 3'] },
        ],
      }),
    );
    let sawBackOff = false;
    await c.waitFor(
      async () => {
        const s = (await c.pods('crasher'))[0]?.status?.containerStatuses?.[0];
        if (s?.state?.waiting?.reason === 'CrashLoopBackOff') sawBackOff = true;
        return sawBackOff && (s?.restartCount ?? 0) >= 2;
      },
      30_000,
      'CrashLoopBackOff',
    );
    // Back-off doubles (1 s, 2 s, 4 s ... in this test): after 5 more seconds at most 3 more restarts.
    const before = (await c.pods('crasher'))[0]?.status?.containerStatuses?.[0]?.restartCount ?? 0;
    await new Promise((r) => setTimeout(r, 5_000));
    const after = (await c.pods('crasher'))[0]?.status?.containerStatuses?.[0];
    expect((after?.restartCount ?? 0) - before).toBeLessThanOrEqual(3);
    expect(after?.lastState?.terminated?.exitCode).toBe(3);
    // What a user runs next: the output of the instance that crashed, kept after its container is gone.
    expect(await c.get('/api/v1/namespaces/default/pods/crasher/log?previous=true')).toEqual({
      status: 200,
      text: 'failing: no database\n',
    });
  }, 45_000);

  it('reports ErrImagePull for an image that cannot be pulled', async () => {
    // A registry on a closed loopback port: the pull fails at once and no traffic leaves the machine.
    await c.store.create(pod('missing', { containers: [{ name: 'c', image: '127.0.0.1:1/missing:1' }] }));
    await c.waitFor(
      async () => {
        const reason = (await c.pods('missing'))[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        return reason === 'ErrImagePull' || reason === 'ImagePullBackOff';
      },
      20_000,
      'ErrImagePull',
    );
  }, 30_000);
});
