/**
 * Pod tokens and the RBAC authorizer, through the API: a node obtains tokens for its own pods
 * only; a token does what its ServiceAccount's bindings grant and nothing else (hostile cases:
 * another namespace, wildcards a Role does not hold, escalation through a Role or a binding, a
 * deleted or replaced pod, a deleted ServiceAccount, the token API and the agent protocol).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { sweepPodTokens } from '../../../functions/controllers/service-accounts';
import { hashSecret } from '../../../functions/tokens';
import { namespace, node, pod, startApi, type TestApi } from '../api/harness';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const rbac = (kind: string, name: string, body: Record<string, unknown>, ns?: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: { name, ...(ns ? { namespace: ns } : {}) },
  ...body,
});

describe('pod tokens and RBAC', () => {
  let api: TestApi;
  let nodeToken: string;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    await api.send('POST', '/api/v1/nodes', { body: node('n2') });
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team') });
    await api.send('POST', '/api/v1/namespaces', { body: namespace('other') });
    for (const ns of ['team', 'other'])
      await api.send('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot' } },
      });
    nodeToken = await api.token({ role: 'node', nodeName: 'n1' });
  });

  const runPod = async (name: string, spec: Record<string, unknown> = {}, ns = 'team', nodeName = 'n1') => {
    const body = pod(name, { namespace: ns, nodeName });
    body.spec = { ...body.spec, serviceAccountName: 'robot', ...spec } as typeof body.spec;
    const res = await api.send('POST', `/api/v1/namespaces/${ns}/pods`, { body });
    expect(res.status).toBe(201);
    const {
      name: n,
      namespace: namespace_,
      uid,
    } = res.json.metadata as { name: string; namespace: string; uid: string };
    return { name: n, namespace: namespace_, uid };
  };
  const podToken = async (ref: { name: string; namespace: string; uid: string }, token = nodeToken) =>
    api.send('POST', '/agent/v1/token', { body: { pod: ref }, token });
  const tokenOf = async (name: string, spec: Record<string, unknown> = {}) => {
    const res = await podToken(await runPod(name, spec));
    expect(res.status).toBe(200);
    return res.json.token as string;
  };
  const grant = async (
    rules: unknown[],
    ns = 'team',
    subject: Record<string, unknown> = { kind: 'ServiceAccount', name: 'robot' },
  ) => {
    await api.send('POST', `${RBAC}/namespaces/${ns}/roles`, { body: rbac('Role', 'r', { rules }) });
    await api.send('POST', `${RBAC}/namespaces/${ns}/rolebindings`, {
      body: rbac('RoleBinding', 'rb', { roleRef: { kind: 'Role', name: 'r' }, subjects: [subject] }),
    });
  };

  it('gives a node a token for a pod bound to it, expiring in an hour, stored as a hash only', async () => {
    // prepare
    const ref = await runPod('p');

    // act
    const res = await podToken(ref);

    // assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ automount: true, namespace: 'team' });
    expect(Date.parse(res.json.expirationTimestamp as string) - api.now.ms).toBe(3600_000);
    const token = res.json.token as string;
    const records = (await api.store.list('Token')).items.filter(
      (t) => (t.spec as { role: string }).role === 'serviceaccount',
    );
    expect(records).toHaveLength(1);
    // ferry_<name>_<secret>: the name has no "_", the base64url secret may
    const secret = token.slice(`ferry_${records[0]?.metadata.name}_`.length);
    expect(JSON.stringify(records)).not.toContain(secret);
    expect(records[0]?.secretHash).toBe(hashSecret(secret));
  });

  it('keeps at most three token records per pod however often its node asks, revoking the one replaced', async () => {
    // prepare
    const ref = await runPod('p');
    await grant([{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }]);
    const issued: string[] = [];

    // act
    for (let i = 0; i < 10; i++) {
      api.now.ms += 1_000;
      issued.push((await podToken(ref)).json.token as string);
    }

    // assess
    const records = (await api.store.list('Token')).items.filter(
      (t) => (t.spec as { role: string }).role === 'serviceaccount',
    );
    expect(records).toHaveLength(3);
    const status = async (token: string) =>
      (await api.send('GET', '/api/v1/namespaces/team/configmaps', { token })).status;
    expect(await status(issued[0] as string)).toBe(401);
    expect(await status(issued[9] as string)).toBe(200);
  });

  it("refuses a node a token for another node's pod, and a pod named with a stale uid", async () => {
    // prepare
    const mine = await runPod('p');
    const theirs = await runPod('q', {}, 'team', 'n2');

    // act
    const other = await podToken(theirs);
    const stale = await podToken({ ...mine, uid: '00000000-0000-0000-0000-000000000000' });
    const byUser = await podToken(mine, api.admin);
    const byDeployer = await podToken(mine, await api.token({ role: 'deployer', namespaces: ['team'] }));

    // assess
    expect(other.status).toBe(403);
    expect(stale.status).toBe(404);
    expect(byUser.status).toBe(403); // an admin is no node: tokens go to the pod's node only
    expect(byDeployer.status).toBe(403);
  });

  it('mounts no token where the pod or its ServiceAccount says so, the pod winning', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/team/serviceaccounts', {
      body: {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'quiet' },
        automountServiceAccountToken: false,
      },
    });

    // act
    const podSays = await podToken(await runPod('a', { automountServiceAccountToken: false }));
    const saSays = await podToken(await runPod('b', { serviceAccountName: 'quiet' }));
    const podWins = await podToken(
      await runPod('c', { serviceAccountName: 'quiet', automountServiceAccountToken: true }),
    );

    // assess
    expect(podSays.json).toEqual({ automount: false });
    expect(saSays.json).toEqual({ automount: false });
    expect(podWins.json.automount).toBe(true);
  });

  it("lists its namespace's pods through a Role and RoleBinding, and is refused on another namespace with Kubernetes' message", async () => {
    // prepare
    const token = await tokenOf('p');
    await grant([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);

    // act
    const own = await api.send('GET', '/api/v1/namespaces/team/pods', { token });
    const other = await api.send('GET', '/api/v1/namespaces/other/pods', { token });
    const all = await api.send('GET', '/api/v1/pods', { token });

    // assess
    expect(own.status).toBe(200);
    expect((own.json.items ?? []).length).toBe(1);
    expect(other.status).toBe(403);
    expect(other.json.message).toContain(
      'pods is forbidden: User "system:serviceaccount:team:robot" cannot list resource "pods" in API group "" in the namespace "other"',
    );
    expect(all.status).toBe(403);
  });

  it('has no access before a binding grants it, but discovery', async () => {
    // prepare
    const token = await tokenOf('p');

    // act
    const pods = await api.send('GET', '/api/v1/namespaces/team/pods', { token });
    const discovery = await api.send('GET', '/api/v1', { token });
    const tokens = await api.send('GET', '/apis/ferry.dev/v1/tokens', { token });
    const sync = await api.send('POST', '/agent/v1/sync', { body: {}, token });
    const mint = await podToken(await runPod('q'), token);

    // assess
    expect([pods.status, discovery.status, tokens.status, sync.status, mint.status]).toEqual([403, 200, 403, 403, 403]);
  });

  it('matches verbs, subresources, resourceNames and API groups as Kubernetes does', async () => {
    // prepare
    const token = await tokenOf('p');
    await api.send('POST', '/api/v1/namespaces/team/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'open' } },
    });
    await api.send('POST', '/api/v1/namespaces/team/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'closed' } },
    });
    await grant([
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['open'], verbs: ['get', 'update'] },
      { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get'] },
      { apiGroups: [''], resources: ['services'], verbs: ['list'] },
    ]);
    const get = (path: string) => api.send('GET', path, { token });

    // act
    const statuses = [
      (await get('/api/v1/namespaces/team/pods/p')).status, // get pods: yes
      (await get('/api/v1/namespaces/team/pods')).status, // list pods: no
      (await get('/api/v1/namespaces/team/pods/p/log')).status, // pods/log is not pods
      (await get('/api/v1/namespaces/team/configmaps/open')).status,
      (await get('/api/v1/namespaces/team/configmaps/closed')).status, // not in resourceNames
      (await get('/api/v1/namespaces/team/configmaps')).status, // resourceNames never list
      (await get('/apis/apps/v1/namespaces/team/deployments/web/scale')).status, // allowed, then 404
      (await get('/apis/apps/v1/namespaces/team/deployments/web')).status, // the scale rule is not the deployment
      (await get('/api/v1/namespaces/team/secrets')).status,
      (await get('/api/v1/namespaces/team/services')).status,
      (await api.send('GET', '/api/v1/namespaces/team/services', { token, query: { watch: 'true' } })).status, // watch is its own verb
    ];

    // assess
    expect(statuses).toEqual([200, 403, 403, 200, 403, 403, 404, 403, 403, 200, 403]);
  });

  it('reads wildcards as Kubernetes does: "*" verbs and resources, and a ClusterRoleBinding everywhere', async () => {
    // prepare
    const token = await tokenOf('p');
    await api.send('POST', `${RBAC}/clusterroles`, {
      body: rbac('ClusterRole', 'read-all', {
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list'] }],
      }),
    });
    await api.send('POST', `${RBAC}/clusterrolebindings`, {
      body: rbac('ClusterRoleBinding', 'robots-read', {
        roleRef: { kind: 'ClusterRole', name: 'read-all' },
        subjects: [{ kind: 'Group', name: 'system:serviceaccounts:team' }],
      }),
    });

    // act
    const nodes = await api.send('GET', '/api/v1/nodes', { token });
    const other = await api.send('GET', '/api/v1/namespaces/other/pods', { token });
    const status = await api.send('GET', '/api/v1/namespaces/team/pods/p/status', { token });
    const write = await api.send('DELETE', '/api/v1/namespaces/team/pods/p', { token });

    // assess: `*` resources cover subresources; get/list never delete
    expect([nodes.status, other.status, status.status, write.status]).toEqual([200, 200, 200, 403]);
  });

  it('grants nothing through a RoleBinding in another namespace to cluster-scoped resources', async () => {
    // prepare
    const token = await tokenOf('p');
    await api.send('POST', `${RBAC}/clusterroles`, {
      body: rbac('ClusterRole', 'all', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }),
    });
    await api.send('POST', `${RBAC}/namespaces/team/rolebindings`, {
      body: rbac('RoleBinding', 'admin-here', {
        roleRef: { kind: 'ClusterRole', name: 'all' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot' }],
      }),
    });

    // act
    const here = await api.send('DELETE', '/api/v1/namespaces/team/pods/p', { token });
    const nodes = await api.send('GET', '/api/v1/nodes', { token });
    const elsewhere = await api.send('GET', '/api/v1/namespaces/other/pods', { token });
    const namespaces = await api.send('DELETE', '/api/v1/namespaces/other', { token });

    // assess
    expect(here.status).toBe(200);
    expect([nodes.status, elsewhere.status, namespaces.status]).toEqual([403, 403, 403]);
  });

  it('does not let a ServiceAccount in another namespace use a binding meant for this one', async () => {
    // prepare
    const otherRef = await runPod('x', {}, 'other');
    const token = (await podToken(otherRef)).json.token as string;
    await grant([{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]); // team's robot, not other's

    // act
    const res = await api.send('GET', '/api/v1/namespaces/team/pods', { token });

    // assess
    expect(res.status).toBe(403);
  });

  it("stops a pod's token at once when the pod is deleted, and when its ServiceAccount is", async () => {
    // prepare
    const token = await tokenOf('p');
    const second = await tokenOf('q');
    await grant([{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }]);
    const before = await api.send('GET', '/api/v1/namespaces/team/configmaps', { token });

    // act: p is bound to a node, so its deletion is graceful; past the grace period the token is gone
    await api.send('DELETE', '/api/v1/namespaces/team/pods/p', { query: { gracePeriodSeconds: '0' } });
    api.now.ms += 1_000;
    const afterPod = await api.send('GET', '/api/v1/namespaces/team/configmaps', { token });
    await api.send('DELETE', '/api/v1/namespaces/team/serviceaccounts/robot');
    await api.send('POST', '/api/v1/namespaces/team/serviceaccounts', {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot' } },
    });
    const afterSa = await api.send('GET', '/api/v1/namespaces/team/configmaps', { token: second });

    // assess
    expect(before.status).toBe(200);
    expect(afterPod.status).toBe(401);
    expect(afterSa.status).toBe(401);
  });

  it('answers 401 once the token expires, and the sweep deletes expired and orphaned records', async () => {
    // prepare
    const token = await tokenOf('p');
    await grant([{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }]);

    // act
    api.now.ms += 3600_000;
    const expired = await api.send('GET', '/api/v1/namespaces/team/configmaps', { token });
    await sweepPodTokens(api.deps);

    // assess
    expect(expired.status).toBe(401);
    const left = (await api.store.list('Token')).items.filter(
      (t) => (t.spec as { role: string }).role === 'serviceaccount',
    );
    expect(left).toHaveLength(0);
  });

  it('refuses a Role granting more than the ServiceAccount holds (escalation), and allows one within it', async () => {
    // prepare
    const token = await tokenOf('p');
    await grant([
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    ]);
    const role = (name: string, rules: unknown[]) =>
      api.send('POST', `${RBAC}/namespaces/team/roles`, { body: rbac('Role', name, { rules }), token });

    // act
    const within = await role('readers', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
    const wider = await role('secrets', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]);
    const wildcard = await role('star', [{ apiGroups: [''], resources: ['*'], verbs: ['list'] }]);
    const bindUp = await api.send('POST', `${RBAC}/namespaces/team/rolebindings`, {
      body: rbac('RoleBinding', 'up', {
        roleRef: { kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot' }],
      }),
      token,
    });
    const bindWithin = await api.send('POST', `${RBAC}/namespaces/team/rolebindings`, {
      body: rbac('RoleBinding', 'ok', {
        roleRef: { kind: 'Role', name: 'readers' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'other' }],
      }),
      token,
    });
    const cluster = await api.send('POST', `${RBAC}/clusterroles`, {
      body: rbac('ClusterRole', 'mine', { rules: [] }),
      token,
    });

    // assess
    expect(within.status).toBe(201);
    expect(wider.status).toBe(403);
    expect(wider.json.message).toContain('user is attempting to grant RBAC permissions not currently held');
    expect(wildcard.status).toBe(403);
    expect(bindUp.status).toBe(403);
    expect(bindWithin.status).toBe(201);
    expect(cluster.status).toBe(403);
  });

  it('lets a deployer create Roles and RoleBindings in its namespace only, and no ClusterRoles', async () => {
    // prepare
    const deployer = await api.token({ role: 'deployer', namespaces: ['team'] });

    // act
    const role = await api.send('POST', `${RBAC}/namespaces/team/roles`, {
      body: rbac('Role', 'r', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }),
      token: deployer,
    });
    const elsewhere = await api.send('POST', `${RBAC}/namespaces/other/roles`, {
      body: rbac('Role', 'r', { rules: [] }),
      token: deployer,
    });
    const cluster = await api.send('POST', `${RBAC}/clusterrolebindings`, {
      body: rbac('ClusterRoleBinding', 'b', { roleRef: { kind: 'ClusterRole', name: 'x' }, subjects: [] }),
      token: deployer,
    });

    // assess
    expect([role.status, elsewhere.status, cluster.status]).toEqual([201, 403, 403]);
  });

  it("keeps ferry's own roles governing user tokens: RBAC bindings give a reader nothing more", async () => {
    // prepare
    const reader = await api.token({ role: 'reader' });
    await grant([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }], 'team', {
      kind: 'Group',
      name: 'system:authenticated',
    });

    // act
    const write = await api.send('DELETE', '/api/v1/namespaces/team/serviceaccounts/robot', { token: reader });

    // assess
    expect(write.status).toBe(403);
  });
});
