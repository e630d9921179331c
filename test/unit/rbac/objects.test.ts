/** ServiceAccount and RBAC objects through the API: stored, defaulted, validated with field paths, printed. */
import { beforeEach, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from '../api/harness';

const APPLY = '/apis/ferry.dev/v1/apply';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

const BUNDLE = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: metrics-server, namespace: default }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "system:metrics-server" }
rules:
  - apiGroups: [""]
    resources: [nodes/metrics, pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "system:metrics-server" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server" }
subjects:
  - { kind: ServiceAccount, name: metrics-server, namespace: default }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: pod-reader, namespace: default }
rules:
  - { apiGroups: [""], resources: [pods, pods/log], verbs: [get, list] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: read-pods, namespace: default }
roleRef: { kind: Role, name: pod-reader }
subjects:
  - { kind: ServiceAccount, name: metrics-server }
  - { kind: User, name: jane }
`;

describe('ServiceAccount and RBAC objects', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('applies a bundle that ships a ServiceAccount, a ClusterRole with a colon in its name and their bindings', async () => {
    // act
    const res = await api.send('POST', APPLY, { raw: BUNDLE, contentType: 'application/yaml' });

    // assess
    expect(res.status).toBe(200);
    const binding = await api.send('GET', `${RBAC}/namespaces/default/rolebindings/read-pods`);
    expect(binding.json.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' });
    expect(binding.json.subjects).toEqual([
      { kind: 'ServiceAccount', apiGroup: '', name: 'metrics-server' },
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' },
    ]);
    const role = await api.send('GET', `${RBAC}/clusterroles/system:metrics-server`);
    expect(role.status).toBe(200);
  });

  it('prints ServiceAccounts with SECRETS and AGE, and bindings with their role', async () => {
    // prepare
    await api.send('POST', APPLY, { raw: BUNDLE, contentType: 'application/yaml' });
    const table = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' };

    // act
    const sas = await api.send('GET', '/api/v1/namespaces/default/serviceaccounts', { headers: table });
    const rbs = await api.send('GET', `${RBAC}/namespaces/default/rolebindings`, { headers: table });

    // assess
    const heads = (t: Record<string, unknown>) => (t.columnDefinitions as { name: string }[]).map((c) => c.name);
    const cells = (t: Record<string, unknown>) => (t.rows as { cells: string[] }[]).map((r) => r.cells);
    expect(heads(sas.json)).toEqual(['Name', 'Secrets', 'Age']);
    expect(cells(sas.json).find((c) => c[0] === 'metrics-server')?.[1]).toBe('0');
    expect(heads(rbs.json).slice(0, 3)).toEqual(['Name', 'Role', 'Age']);
    expect(cells(rbs.json)[0]?.slice(0, 2)).toEqual(['read-pods', 'Role/pod-reader']);
  });

  it('refuses rules and bindings Kubernetes refuses, each cause with its field path', async () => {
    // act
    const role = await api.send('POST', `${RBAC}/namespaces/default/roles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'bad' },
        rules: [
          { verbs: [], resources: ['pods'] },
          { verbs: ['get'], nonResourceURLs: ['/healthz'] },
        ],
      },
    });
    const binding = await api.send('POST', `${RBAC}/clusterrolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'bad' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' },
        subjects: [
          { kind: 'ServiceAccount', name: 'sa' },
          { kind: 'Robot', name: 'r2' },
        ],
      },
    });

    // assess
    const fields = (r: { json: { details?: { causes?: { field?: string }[] } } }) =>
      (r.json.details?.causes ?? []).map((c) => c.field).sort();
    expect(role.status).toBe(422);
    expect(fields(role)).toEqual(['rules[0].apiGroups', 'rules[0].verbs', 'rules[1].nonResourceURLs']);
    expect(binding.status).toBe(422);
    expect(fields(binding)).toEqual(['roleRef.kind', 'subjects[0].namespace', 'subjects[1].kind']);
  });

  it('refuses an aggregationRule with a 422 rather than storing a ClusterRole that grants less than it says', async () => {
    // act
    const res = await api.send('POST', `${RBAC}/clusterroles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'monitoring' },
        aggregationRule: {
          clusterRoleSelectors: [{ matchLabels: { 'rbac.example.com/aggregate-to-monitoring': 'true' } }],
        },
      },
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('aggregationRule');
    expect((await api.store.list('ClusterRole')).items).toHaveLength(0);
  });

  it('keeps roleRef immutable: a binding to another role is refused', async () => {
    // prepare
    await api.send('POST', APPLY, { raw: BUNDLE, contentType: 'application/yaml' });

    // act
    const res = await api.send('PATCH', `${RBAC}/namespaces/default/rolebindings/read-pods`, {
      body: { roleRef: { kind: 'ClusterRole', name: 'system:metrics-server' } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('roleRef');
  });

  it('keeps serviceAccount, the deprecated alias, equal to serviceAccountName', async () => {
    // prepare
    await api.send('POST', APPLY, { raw: BUNDLE, contentType: 'application/yaml' });

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: { serviceAccount: 'metrics-server', containers: [{ name: 'c', image: 'busybox' }] },
      },
    });
    const plain = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'q' },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      },
    });

    // assess
    const spec = (r: { json: Record<string, unknown> }) => r.json.spec as Record<string, unknown>;
    expect(res.status).toBe(201);
    expect([spec(res).serviceAccountName, spec(res).serviceAccount]).toEqual(['metrics-server', 'metrics-server']);
    expect([spec(plain).serviceAccountName, spec(plain).serviceAccount]).toEqual(['default', 'default']);
  });
});
