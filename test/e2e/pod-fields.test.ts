/**
 * End-to-end on real Docker: the Pod fields the agent runs as Kubernetes does, on a one-node local
 * cluster, each pod created through the API (so validation and defaults apply): init containers in
 * order and a native sidecar, runAsUser with a read-only root and a tmpfs emptyDir, a Pod whose
 * image is changed by a PATCH, a gRPC readiness probe against a grpc.health.v1 server, the
 * kube-api-access volume and resourceFieldRef env an exported pod carries (checked from inside the
 * container), and FallbackToLogsOnError's termination message.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Deployment, Node, Pod } from '../../schemas';
import type { Service } from '../../schemas/service';
import { appContainers, docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { getBody } from './helpers/requests';

const ROOT = join(import.meta.dirname, '../..');
const BUSYBOX = 'ferry.local/busybox:1';
const PODS = '/api/v1/namespaces/default/pods';

const pod = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { terminationGracePeriodSeconds: 1, ...spec },
});

/** The running container of `pod` named `name`. */
function containerOf(p: Pod, name: string): string {
  const id = appContainers(p).find(
    (c) => docker('inspect', '-f', '{{index .Config.Labels "ferry.container.name"}}', c) === name,
  );
  if (!id) throw new Error(`no running container ${name} in ${p.metadata.name}`);
  return id;
}

/** One GET on a new connection: resolves on a 200, rejects otherwise. */
const httpGet = async (host: string, port: number): Promise<void> => {
  await getBody(host, port);
};

describeDocker('e2e: Pod fields on real Docker', () => {
  const c = useCluster(1, {
    setupMs: 300_000,
    before: () => {
      execFileSync('bash', [join(ROOT, 'scripts/build-node-image.sh')], { stdio: 'ignore' });
    },
  });
  const get = async (name: string) => (await c.pods(name)).find((p) => p.metadata.name === name) as Pod;
  const ready = async (name: string) => (await c.readyPods(name)).some((p) => p.metadata.name === name);

  afterAll(async () => {
    await c.stop();
    // The agents are stopped with their pods running: remove the pods' memory volumes too.
    const volumes = docker(
      'volume',
      'ls',
      '-q',
      '--filter',
      'label=ferry.managed=true',
      '--filter',
      'label=ferry.node=e2e-1',
    );
    for (const v of volumes.split('\n').filter(Boolean)) docker('volume', 'rm', '-f', v);
  }, 60_000);

  it('runs init containers in order to success, then a native sidecar that the app reaches on localhost', async () => {
    // prepare
    const step = (name: string, text: string) => ({
      name,
      image: BUSYBOX,
      command: ['sh', '-c', `echo ${text} >> /work/order`],
      volumeMounts: [{ name: 'work', mountPath: '/work' }],
    });

    // act
    await c.post(
      PODS,
      pod('init', {
        volumes: [{ name: 'work', emptyDir: {} }],
        initContainers: [
          step('first', 'one'),
          {
            name: 'sidecar',
            image: BUSYBOX,
            restartPolicy: 'Always',
            command: ['sh', '-c', 'echo from-sidecar > /tmp/i && exec httpd -f -p 8081 -h /tmp'],
            startupProbe: { tcpSocket: { port: 8081 }, periodSeconds: 1 },
          },
          step('second', 'two'),
        ],
        containers: [
          {
            name: 'app',
            image: BUSYBOX,
            command: ['sh', '-c', 'wget -q -O /work/got http://127.0.0.1:8081/i; exec sleep 3600'],
            volumeMounts: [{ name: 'work', mountPath: '/work' }],
            readinessProbe: { exec: { command: ['grep', '-q', 'from-sidecar', '/work/got'] }, periodSeconds: 1 },
          },
        ],
      }),
    );
    await c.waitFor(() => ready('init'), 60_000, 'the init pod Ready');

    // assess
    const p = await get('init');
    expect(docker('exec', containerOf(p, 'app'), 'cat', '/work/order')).toBe('one\ntwo');
    expect(p.status?.initContainerStatuses?.map((s) => [s.name, Object.keys(s.state ?? {})[0]])).toEqual([
      ['first', 'terminated'],
      ['sidecar', 'running'],
      ['second', 'terminated'],
    ]);
    expect(p.status?.conditions?.find((x) => x.type === 'Initialized')?.status).toBe('True');
  }, 90_000);

  it('fills the kube-api-access volume an exported pod carries and resourceFieldRef env, seen from inside', async () => {
    // prepare: the volume as `kubectl get pod -o yaml` shows it, plus a token for another audience
    const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
    const ref = (resource: string, divisor: string) => ({ resourceFieldRef: { resource, divisor } });

    // act
    await c.post(
      PODS,
      pod('exported', {
        volumes: [
          {
            name: 'kube-api-access-x7k2q',
            projected: {
              defaultMode: 420,
              sources: [
                { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                  },
                },
              ],
            },
          },
          { name: 'vault', projected: { sources: [{ serviceAccountToken: { audience: 'vault', path: 'token' } }] } },
        ],
        containers: [
          {
            name: 'app',
            image: BUSYBOX,
            command: ['sleep', '3600'],
            resources: { limits: { cpu: '1500m', memory: '64Mi' } },
            env: [
              { name: 'GOMAXPROCS', valueFrom: ref('limits.cpu', '0') },
              { name: 'GOMEMLIMIT', valueFrom: ref('limits.memory', '1') },
              { name: 'MEM_MI', valueFrom: ref('requests.memory', '1Mi') },
            ],
            volumeMounts: [
              { name: 'kube-api-access-x7k2q', mountPath: SA, readOnly: true },
              { name: 'vault', mountPath: '/vault' },
            ],
          },
        ],
      }),
    );
    await c.waitFor(() => ready('exported'), 60_000, 'the exported pod Ready');

    // assess
    const app = containerOf(await get('exported'), 'app');
    const sh = (script: string) => docker('exec', app, 'sh', '-c', script);
    expect(sh('echo $GOMAXPROCS $GOMEMLIMIT $MEM_MI')).toBe(`2 ${64 * 1024 * 1024} 64`);
    expect(sh(`cat ${SA}/namespace`)).toBe('default');
    expect(sh(`head -1 ${SA}/ca.crt`)).toBe('-----BEGIN CERTIFICATE-----');
    expect(sh(`touch ${SA}/x 2>&1 || echo read-only`)).toContain('read-only');
    const token = sh(`cat ${SA}/token`);
    const vault = sh('cat /vault/token');
    const asPod = async (t: string) =>
      (
        await fetch(`${c.plane.url}/api/v1/namespaces/default/configmaps`, {
          headers: { authorization: `Bearer ${t}` },
        })
      ).status;
    expect(await asPod(token)).toBe(403); // authenticated as the ServiceAccount, which RBAC grants nothing
    expect(await asPod(vault)).toBe(401); // a token for another audience is no API credential
  }, 90_000);

  it('reports the tail of a failed container output as its termination message under FallbackToLogsOnError', async () => {
    // act
    await c.post(
      PODS,
      pod('crash', {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'app',
            image: BUSYBOX,
            command: ['sh', '-c', 'echo starting; echo "panic: no config"; exit 3'],
            terminationMessagePolicy: 'FallbackToLogsOnError',
          },
        ],
      }),
    );
    await c.waitFor(async () => (await get('crash'))?.status?.phase === 'Failed', 60_000, 'the crash pod Failed');

    // assess
    const terminated = (await get('crash')).status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated).toMatchObject({ exitCode: 3, message: 'starting\npanic: no config\n' });
  }, 90_000);

  it('runs a container as runAsUser with a read-only root filesystem and a tmpfs emptyDir it can write', async () => {
    // act
    await c.post(
      PODS,
      pod('secure', {
        securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000 },
        volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }],
        containers: [
          {
            name: 'app',
            image: BUSYBOX,
            command: ['sleep', '3600'],
            securityContext: {
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
      }),
    );
    await c.waitFor(() => ready('secure'), 60_000, 'the secure pod Ready');
    const id = containerOf(await get('secure'), 'app');

    // assess
    expect(docker('exec', id, 'id', '-u')).toBe('1000');
    expect(docker('exec', id, 'id', '-G').split(' ')).toEqual(expect.arrayContaining(['3000', '2000']));
    expect(docker('exec', id, 'sh', '-c', 'touch /root-file 2>/dev/null && echo wrote || echo read-only')).toBe(
      'read-only',
    );
    expect(docker('exec', id, 'sh', '-c', 'echo hi > /scratch/f && cat /scratch/f')).toBe('hi');
    const mount = docker('exec', id, 'sh', '-c', 'grep " /scratch " /proc/mounts');
    expect(mount).toMatch(/^tmpfs \/scratch tmpfs .*size=16384k/);
    expect(docker('exec', id, 'stat', '-c', '%g %a', '/scratch')).toBe('2000 2777'); // fsGroup, setgid
  }, 90_000);

  it('refuses to start a runAsNonRoot container whose image runs as root, saying why', async () => {
    // act
    await c.post(
      PODS,
      pod('rooted', {
        containers: [
          { name: 'app', image: BUSYBOX, command: ['sleep', '3600'], securityContext: { runAsNonRoot: true } },
        ],
      }),
    );

    // assess
    await c.waitFor(
      async () =>
        (await get('rooted'))?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
      30_000,
      'CreateContainerConfigError',
    );
    const waiting = (await get('rooted')).status?.containerStatuses?.[0]?.state?.waiting;
    expect(waiting?.message).toBe('Error: container has runAsNonRoot and image will run as root');
    expect(appContainers(await get('rooted'))).toEqual([]);
  }, 60_000);

  it('replaces the container of a Pod whose image is changed by a PATCH, counting one restart', async () => {
    // prepare
    await c.post(PODS, pod('swap', { containers: [{ name: 'app', image: BUSYBOX, command: ['sleep', '3600'] }] }));
    await c.waitFor(() => ready('swap'), 60_000, 'the swap pod Ready');
    const before = containerOf(await get('swap'), 'app');

    // act: a merge patch replaces the whole list, so the container is given whole
    await c.patch(`${PODS}/swap`, {
      spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:2', command: ['sleep', '3600'] }] },
    });
    await c.waitFor(
      async () => {
        const s = (await get('swap')).status?.containerStatuses?.[0];
        return s?.ready === true && s.containerID !== undefined && !s.containerID.endsWith(before);
      },
      60_000,
      'the new container running',
    );

    // assess
    const after = containerOf(await get('swap'), 'app');
    expect(after).not.toBe(before);
    expect(docker('inspect', '-f', '{{.Config.Image}}', after)).toBe('ferry.local/busybox:2');
    expect((await get('swap')).status?.containerStatuses?.[0]?.restartCount).toBe(1);
  }, 90_000);

  it('makes a pod Ready by a gRPC readiness probe, and keeps one whose service is not serving unready', async () => {
    // prepare
    const grpcPod = (name: string, service: string) =>
      pod(name, {
        containers: [
          {
            name: 'server',
            image: 'ferry.local/node:1',
            command: ['node', '/app/grpc-health.js'],
            env: [
              { name: 'SERVING', value: 'shop' },
              { name: 'PORT', value: '9000' },
            ],
            ports: [{ containerPort: 9000 }],
            readinessProbe: { grpc: { port: 9000, service }, periodSeconds: 1 },
          },
        ],
      });

    // act
    await c.post(PODS, grpcPod('grpc-shop', 'shop'));
    await c.post(PODS, grpcPod('grpc-cart', 'cart'));
    await c.waitFor(() => ready('grpc-shop'), 60_000, 'the gRPC pod Ready');
    await new Promise((r) => setTimeout(r, 3000));

    // assess
    const cart = await get('grpc-cart');
    expect(cart.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    expect(cart.status?.containerStatuses?.[0]?.ready).toBe(false);
  }, 90_000);

  it('runs preStop before SIGTERM in a rolling update, losing no request through the Service', async () => {
    // prepare: each pod logs its preStop and its SIGTERM to a host directory
    const events = mkdtempSync(join(tmpdir(), 'ferry-prestop-'));
    const template = (version: string) => ({
      metadata: { labels: { app: 'stop' } },
      spec: {
        terminationGracePeriodSeconds: 10,
        volumes: [{ name: 'events', hostPath: { path: events } }],
        containers: [
          {
            name: 'httpd',
            image: BUSYBOX,
            command: ['sh', '-c', 'trap "echo term $POD >> /events/log; exit 0" TERM; httpd -f -p 8080 -h /www & wait'],
            env: [
              { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'VERSION', value: version },
            ],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
            volumeMounts: [{ name: 'events', mountPath: '/events' }],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop $POD >> /events/log; sleep 1'] } } },
          },
        ],
      },
    });
    // A hostPath volume is refused by Pod Security's baseline level (the default): this test's
    // namespace is labelled privileged, as an admin would for such a workload.
    const ns = await c.store.get({ kind: 'Namespace', name: 'default' });
    if (!ns) throw new Error('no default namespace');
    await c.store.update({
      ...ns,
      metadata: {
        ...ns.metadata,
        labels: { ...ns.metadata.labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    });
    await c.post('/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'stop', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'stop' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: template('1'),
      },
    });
    const svc = await c.post<Service>('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'stop', namespace: 'default' },
      spec: { type: 'NodePort', selector: { app: 'stop' }, ports: [{ port: 80, targetPort: 'http' }] },
    });
    const node = (await c.store.list<Node>('Node')).items[0];
    const ip = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address as string;
    const port = svc.spec.ports?.[0]?.nodePort as number;
    await c.waitFor(async () => (await c.readyPods('stop-')).length === 2, 60_000, 'two stop pods Ready');
    await c.waitFor(() => httpGet(ip, port).then(() => true), 30_000, 'the Service answering');
    const old = (await c.pods('stop-')).map((p) => p.metadata.name);

    // act: requests in a loop through the node port while the Deployment rolls
    let stopped = false;
    const result = { ok: 0, failed: [] as string[] };
    const loop = (async () => {
      for (let i = 0; i < 20_000 && !stopped; i++) {
        await httpGet(ip, port).then(
          () => result.ok++,
          (err: Error) => result.failed.push(err.message),
        );
      }
    })();
    const d = (await c.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'stop' })) as Deployment;
    await c.store.update({ ...d, spec: { ...d.spec, template: template('2') } } as unknown as Deployment);
    await c.waitFor(
      async () => {
        const pods = await c.pods('stop-');
        return (
          pods.length === 2 &&
          pods.every((p) => !old.includes(p.metadata.name)) &&
          (await c.readyPods('stop-')).length === 2
        );
      },
      90_000,
      'the rollout done',
    );
    await new Promise((r) => setTimeout(r, 1000));
    stopped = true;
    await loop;

    // assess
    const log = readFileSync(join(events, 'log'), 'utf8').trim().split('\n');
    for (const name of old) expect(log.indexOf(`prestop ${name}`)).toBeLessThan(log.indexOf(`term ${name}`));
    for (const name of old) expect(log).toContain(`term ${name}`);
    expect(result.ok).toBeGreaterThan(20);
    expect(result.failed).toEqual([]);
  }, 150_000);
});
