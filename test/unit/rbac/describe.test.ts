/** `ferry describe` of ServiceAccounts, roles and bindings reads as kubectl's. */
import { describe, expect, it } from 'vitest';
import { describeObject } from '../../../cli/output/describe';

describe('describe for ServiceAccounts and RBAC', () => {
  it("shows a ServiceAccount's pull and mountable secrets", () => {
    // act
    const text = describeObject(
      'ServiceAccount',
      { metadata: { name: 'robot', namespace: 'team' }, imagePullSecrets: [{ name: 'registry' }] },
      [],
    );

    // assess
    expect(text).toMatch(/^Image pull secrets: +registry$/m);
    expect(text).toMatch(/^Mountable secrets: +<none>$/m);
    expect(text).toContain('Events:  <none>');
  });

  it("shows a role's rules as kubectl's PolicyRule table, resources qualified by their group", () => {
    // act
    const text = describeObject(
      'ClusterRole',
      {
        metadata: { name: 'view' },
        rules: [
          { apiGroups: ['', 'apps'], resources: ['pods', 'deployments/scale'], verbs: ['get', 'list'] },
          { nonResourceURLs: ['/healthz'], verbs: ['get'] },
        ],
      },
      [],
    );

    // assess
    const rows = text.split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(rows).toContainEqual(['pods', '[]', '[]', '[get list]']);
    expect(rows).toContainEqual(['deployments/scale.apps', '[]', '[]', '[get list]']);
    expect(rows).toContainEqual(['[/healthz]', '[]', '[get]']);
  });

  it("shows a binding's role and subjects", () => {
    // act
    const text = describeObject(
      'RoleBinding',
      {
        metadata: { name: 'rb', namespace: 'team' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'team' }],
      },
      [],
    );

    // assess
    expect(text).toMatch(/^Role:\n {2}Kind: +Role\n {2}Name: +pod-reader$/m);
    expect(text.split('\n').map((l) => l.trim().split(/\s{2,}/))).toContainEqual(['ServiceAccount', 'robot', 'team']);
  });
});
