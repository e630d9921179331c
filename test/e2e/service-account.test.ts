/**
 * End-to-end on real Docker: a pod's ServiceAccount token, from inside its container. The pod
 * runs as ServiceAccount `robot`, bound by a Role + RoleBinding to list pods in its namespace;
 * busybox `wget` sends the mounted token to the API through the node's relay
 * ($KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT) and lists its namespace's pods, and is
 * refused (403) on another namespace. The token stops working once the pod is deleted.
 *
 * Transport: the test control plane serves plain HTTP on loopback, so the relay terminates TLS
 * with the node's own certificate (agent/relay-cert.ts). A Node client in the pod
 * (ferry.local/dns-client:1) does what client-go's rest.InClusterConfig does: https to
 * $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, verifying with the mounted ca.crt only.
 * busybox's wget (no CA option) uses plain http://, which the relay still passes through. The
 * relay's TLS pass-through to an HTTPS API is a unit test (test/unit/agent/in-cluster.test.ts).
 *
 * The `kubernetes` Service: $KUBERNETES_SERVICE_HOST is its cluster IP (10.96.0.1) and port 443,
 * and `https://kubernetes.default.svc/...` resolves through the C library's search list (A and
 * AAAA asked together: the AAAA answer must be NODATA) to that IP, which the node proxies to its
 * relay; the relay's certificate names the Service, and the node DNS answers its PTR.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Pod } from '../../schemas';
import { appContainers, docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const run = promisify(execFile);
const BUSYBOX = 'ferry.local/busybox:1';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const ROOT = join(import.meta.dirname, '../..');

/**
 * What an in-cluster client does (client-go's rest.InClusterConfig): https to the
 * KUBERNETES_SERVICE_* address, the mounted token as Bearer, the mounted ca.crt as the only trust.
 * A fixed script run with node's argv (no shell, no test value in it); prints "STATUS BODY".
 */
const IN_CLUSTER_CLIENT = `
const fs = require('node:fs');
const https = require('node:https');
const dir = '${SA_DIR}';
const read = (f) => fs.readFileSync(dir + '/' + f, 'utf8');
const req = https.get({
  host: process.env.KUBERNETES_SERVICE_HOST,
  port: Number(process.env.KUBERNETES_SERVICE_PORT),
  path: '/api/v1/namespaces/' + read('namespace') + '/pods',
  ca: read('ca.crt'),
  headers: { authorization: 'Bearer ' + read('token') },
  timeout: 10000,
  agent: false,
}, (res) => {
  let body = '';
  res.on('data', (c) => (body += c));
  res.on('end', () => console.log(res.statusCode + ' ' + body));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (err) => { console.log('error ' + err.message); process.exitCode = 1; });
`;

/**
 * An in-cluster client by the Service's name, as a pod configured with `https://kubernetes.default.svc`
 * does: getaddrinfo (AF_UNSPEC) resolves it, TLS checks the name against the mounted ca.crt. Prints
 * one JSON line: the status and item count, the KUBERNETES_SERVICE_* address, the PTR of that IP.
 */
const BY_SERVICE_NAME = `
const fs = require('node:fs');
const https = require('node:https');
const dns = require('node:dns');
const dir = '${SA_DIR}';
const read = (f) => fs.readFileSync(dir + '/' + f, 'utf8');
const out = { env: process.env.KUBERNETES_SERVICE_HOST + ':' + process.env.KUBERNETES_SERVICE_PORT };
const done = () => console.log(JSON.stringify(out));
const req = https.get({
  host: 'kubernetes.default.svc',
  path: '/api/v1/namespaces/default/pods',
  ca: read('ca.crt'),
  headers: { authorization: 'Bearer ' + read('token') },
  timeout: 10000,
  agent: false,
}, (res) => {
  let body = '';
  res.on('data', (c) => (body += c));
  res.on('end', () => {
    out.status = res.statusCode;
    try { out.kind = JSON.parse(body).kind; } catch { out.body = body.slice(0, 200); }
    dns.reverse(process.env.KUBERNETES_SERVICE_HOST, (err, names) => {
      out.ptr = err ? err.code : names;
      done();
    });
  });
});
req.on('socket', (s) => s.on('connect', () => (out.remote = s.remoteAddress + ':' + s.remotePort)));
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (err) => { out.error = err.code || err.message; done(); });
`;

/**
 * Runs a fixed shell script in the pod's container (no test value reaches the shell). Async: the
 * control plane answering the container's request runs in this process.
 */
async function inPod(p: Pod, script: string): Promise<{ ok: boolean; out: string }> {
  const [id] = appContainers(p);
  if (!id) throw new Error(`no running container in ${p.metadata.name}`);
  try {
    const { stdout } = await run('docker', ['exec', id, 'sh', '-c', script], { encoding: 'utf8', timeout: 20_000 });
    return { ok: true, out: stdout };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Runs an in-cluster client script in the pod's container (an image with node and no shell). */
async function nodeInPod(p: Pod, script = IN_CLUSTER_CLIENT): Promise<string> {
  const [id] = appContainers(p);
  if (!id) throw new Error(`no running container in ${p.metadata.name}`);
  try {
    const args = ['exec', id, 'node', '-e', script];
    return (await run('docker', args, { encoding: 'utf8', timeout: 20_000 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

const listPods = (namespace: 'sa-team' | 'sa-other') =>
  `wget -q -O - --header "Authorization: Bearer $(cat ${SA_DIR}/token)" "http://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/${namespace}/pods"`;

describeDocker('e2e: ServiceAccount tokens on real Docker', () => {
  const c = useCluster(1, {
    before: () => {
      execFileSync('bash', [join(ROOT, 'scripts/build-dns-client-image.sh')], { stdio: 'ignore' });
    },
  });

  beforeAll(async () => {
    for (const name of ['sa-team', 'sa-other'])
      await c.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    await c.post('/api/v1/namespaces/sa-team/serviceaccounts', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'robot' },
    });
    await c.post(`${RBAC}/namespaces/sa-team/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-lister' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    });
    // robot may also list the pods of `default`, where the in-cluster-by-name test looks.
    await c.post(`${RBAC}/namespaces/default/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-lister' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    });
    await c.post(`${RBAC}/namespaces/default/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'sa-team-robot-lists-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-lister' },
      subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'sa-team' }],
    });
    await c.post(`${RBAC}/namespaces/sa-team/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'robot-lists-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-lister' },
      subjects: [{ kind: 'ServiceAccount', name: 'robot' }],
    });
    for (const [name, extra] of [
      ['client', { serviceAccountName: 'robot' }],
      ['quiet', { automountServiceAccountToken: false }],
    ] as const)
      await c.post('/api/v1/namespaces/sa-team/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: 1,
          ...extra,
          containers: [{ name: 'sh', image: BUSYBOX, command: ['sleep', '3600'] }],
        },
      });
    // The dns-client image serves HTTP on 8080 by itself: it stays up for the exec.
    await c.post('/api/v1/namespaces/sa-team/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'https-client' },
      spec: {
        terminationGracePeriodSeconds: 1,
        serviceAccountName: 'robot',
        containers: [{ name: 'client', image: 'ferry.local/dns-client:1', imagePullPolicy: 'Never' }],
      },
    });
    await c.waitFor(async () => (await c.readyPods()).length === 3, 60_000, 'the three pods Ready');
  }, 300_000);

  afterAll(async () => {
    await c.stop();
  }, 60_000);

  const pod = async (name: string) => (await c.pods(name)).find((p) => p.metadata.name === name) as Pod;

  it("lists its own namespace's pods with the mounted token through the relay", async () => {
    // act
    const res = await inPod(await pod('client'), listPods('sa-team'));

    // assess
    expect(res.ok, res.out).toBe(true);
    const names = (JSON.parse(res.out) as { items: Pod[] }).items.map((p) => p.metadata.name).sort();
    expect(names).toEqual(['client', 'https-client', 'quiet']);
  });

  it('lists them over https verified with the mounted ca.crt, as client-go in a pod does', async () => {
    // act
    const out = await nodeInPod(await pod('https-client'));

    // assess
    expect(out).toMatch(/^200 /);
    const names = (JSON.parse(out.slice(4)) as { items: Pod[] }).items.map((p) => p.metadata.name).sort();
    expect(names).toEqual(['client', 'https-client', 'quiet']);
  });

  it('reaches https://kubernetes.default.svc through its cluster IP, verified with ca.crt, as $KUBERNETES_SERVICE_HOST says', async () => {
    // act
    const out = await nodeInPod(await pod('https-client'), BY_SERVICE_NAME);
    const svc = await fetch(`${c.plane.url}/api/v1/namespaces/default/services/kubernetes`, {
      headers: { authorization: `Bearer ${c.plane.adminToken}` },
    });

    // assess
    const got = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(got, out).toMatchObject({
      status: 200,
      kind: 'PodList',
      env: '10.96.0.1:443',
      remote: '10.96.0.1:443',
      ptr: ['kubernetes.default.svc.cluster.local'],
    });
    expect(svc.status).toBe(200);
    expect(((await svc.json()) as { spec: { clusterIP: string } }).spec.clusterIP).toBe('10.96.0.1');
  });

  it('is refused with 403 on another namespace', async () => {
    // act
    const res = await inPod(await pod('client'), listPods('sa-other'));

    // assess
    expect(res.ok).toBe(false);
    expect(res.out).toContain('403');
  });

  it('mounts token, ca.crt and namespace read-only, and nothing for a pod that opts out', async () => {
    // act
    const files = await inPod(await pod('client'), `ls ${SA_DIR} && cat ${SA_DIR}/namespace && echo`);
    const write = await inPod(await pod('client'), `echo x > ${SA_DIR}/token`);
    const quiet = await inPod(await pod('quiet'), `ls ${SA_DIR}`);
    const env = await inPod(await pod('quiet'), 'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"');

    // assess
    expect(files.out.split('\n').filter(Boolean)).toEqual(['ca.crt', 'namespace', 'token', 'sa-team']);
    expect(write.ok).toBe(false);
    expect(quiet.ok).toBe(false);
    expect(env.out.trim()).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+$/);
  });

  it('stops the token working once its pod is deleted', async () => {
    // prepare
    const client = await pod('client');
    const token = (await inPod(client, `cat ${SA_DIR}/token`)).out;
    const url = `${c.plane.url}/api/v1/namespaces/sa-team/pods`;
    const before = (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;

    // act
    await fetch(`${c.plane.url}/api/v1/namespaces/sa-team/pods/client`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${c.plane.adminToken}` },
    });
    await c.waitFor(async () => (await c.pods('client')).length === 0, 30_000, 'the pod gone');
    const after = (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;

    // assess
    expect([before, after]).toEqual([200, 401]);
    expect(docker('ps', '-q', '--filter', `label=ferry.pod.uid=${client.metadata.uid}`)).toBe('');
  });
});
