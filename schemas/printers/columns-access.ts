/** Table columns of ServiceAccounts and the RBAC kinds, after kubectl's printers. */
import { arr, type Loose, str } from './fields';
import { created, type KindColumns, name } from './kind-columns';

export const ACCESS_COLUMNS: Record<string, KindColumns> = {
  ServiceAccount: {
    headers: ['NAME', 'SECRETS', 'AGE'],
    row: (o, now) => [name(o), String(arr(o, 'secrets').length), created(o, now)],
  },
  Role: { headers: ['NAME', 'CREATED AT'], row: (o) => [name(o), str(o, 'metadata.creationTimestamp')] },
  ClusterRole: { headers: ['NAME', 'CREATED AT'], row: (o) => [name(o), str(o, 'metadata.creationTimestamp')] },
  RoleBinding: bindingColumns(),
  ClusterRoleBinding: bindingColumns(),
};

/** kubectl's printRoleBinding: ROLE is `Kind/name`; `-o wide` lists the subjects by kind. */
function bindingColumns(): KindColumns {
  const subjects = (o: Loose, kind: string) =>
    arr(o, 'subjects')
      .filter((s) => str(s, 'kind') === kind)
      .map((s) => (kind === 'ServiceAccount' ? `${str(s, 'namespace')}/${str(s, 'name')}` : str(s, 'name')))
      .join(', ');
  return {
    headers: ['NAME', 'ROLE', 'AGE'],
    row: (o, now) => [name(o), `${str(o, 'roleRef.kind')}/${str(o, 'roleRef.name')}`, created(o, now)],
    wideHeaders: ['USERS', 'GROUPS', 'SERVICEACCOUNTS'],
    wideRow: (o) => [subjects(o, 'User'), subjects(o, 'Group'), subjects(o, 'ServiceAccount')],
  };
}
