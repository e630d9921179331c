/**
 * End-to-end on real Docker: a pod's ServiceAccount token, from inside its container. The pod
 * runs as ServiceAccount `robot`, bound by a Role + RoleBinding to list pods in its namespace;
 * busybox `wget` sends the mounted token to the API through the node's relay
 * ($KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT) and lists its namespace's pods, and is
 * refused (403) on another namespace. The token stops working once the pod is deleted.
 *
 * Transport: plain HTTP. The test control plane serves HTTP on loopback, and the relay passes
 * bytes through untouched, so the container speaks what the API speaks; busybox's wget could
 * not verify an HTTPS certificate against ca.crt anyway (it has no CA option), so HTTPS here
 * would test nothing more. The relay's TLS pass-through (a client verifying the API server's
 * certificate with its CA through the relay) is a unit test (test/unit/agent/in-cluster.test.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Pod } from '../../schemas';
import { appContainers, buildOnce, docker, TestCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const run = promisify(execFile);
const BUSYBOX = 'ferry.local/busybox:1';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

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

const listPods = (namespace: 'sa-team' | 'sa-other') =>
  `wget -q -O - --header "Authorization: Bearer $(cat ${SA_DIR}/token)" "http://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/${namespace}/pods"`;

describeDocker('e2e: ServiceAccount tokens on real Docker', () => {
  const c = new TestCluster();

  beforeAll(async () => {
    buildOnce();
    await c.start(1);
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
    await c.waitFor(async () => (await c.readyPods()).length === 2, 60_000, 'both pods Ready');
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
    expect(names).toEqual(['client', 'quiet']);
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
