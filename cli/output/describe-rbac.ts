/**
 * `ferry describe` for ServiceAccounts and the RBAC kinds, after kubectl's describers: a
 * ServiceAccount's pull and mountable secrets, a role's rules as kubectl's PolicyRule table
 * (`resource.group`), a binding's role and subjects.
 */
import { arr, type Loose, str } from '../../schemas/printers/fields';
import { metadataPairs, type Pairs, pairs } from './describe-pairs';
import { renderTable } from './table';

const names = (list: Loose[]) => (list.length === 0 ? '<none>' : list.map((x) => str(x, 'name')).join(', '));
const bracketed = (list: unknown) => `[${(Array.isArray(list) ? list : []).join(' ')}]`;

function describeServiceAccount(o: Loose): string[] {
  return pairs([
    ...metadataPairs(o).filter(([k]) => k !== 'CreationTimestamp'),
    ['Image pull secrets', names(arr(o, 'imagePullSecrets'))],
    ['Mountable secrets', names(arr(o, 'secrets'))],
    ['Tokens', '<none>'],
  ] as Pairs);
}

function describeRole(o: Loose): string[] {
  const rows: string[][] = [];
  for (const rule of arr(o, 'rules')) {
    const groups = (rule.apiGroups as string[] | undefined) ?? [];
    const resources = (rule.resources as string[] | undefined) ?? [];
    const verbs = bracketed(rule.verbs);
    const resourceNames = bracketed(rule.resourceNames);
    for (const url of (rule.nonResourceURLs as string[] | undefined) ?? []) rows.push(['', `[${url}]`, '[]', verbs]);
    for (const r of resources)
      for (const g of groups.length > 0 ? groups : ['']) rows.push([g ? `${r}.${g}` : r, '[]', resourceNames, verbs]);
  }
  const table = renderTable(
    ['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs'],
    [['---------', '-----------------', '--------------', '-----'], ...rows],
  );
  return [
    ...pairs(metadataPairs(o).filter(([k]) => k !== 'CreationTimestamp')),
    'PolicyRule:',
    ...table.split('\n').map((l) => `  ${l}`),
  ];
}

function describeBinding(o: Loose): string[] {
  const rows = arr(o, 'subjects').map((s) => [str(s, 'kind'), str(s, 'name'), str(s, 'namespace')]);
  const table = renderTable(['Kind', 'Name', 'Namespace'], [['----', '----', '---------'], ...rows]);
  return [
    ...pairs(metadataPairs(o).filter(([k]) => k !== 'CreationTimestamp')),
    'Role:',
    ...pairs(
      [
        ['Kind', str(o, 'roleRef.kind')],
        ['Name', str(o, 'roleRef.name')],
      ],
      '  ',
    ),
    'Subjects:',
    ...table.split('\n').map((l) => `  ${l}`),
  ];
}

export const RBAC_DESCRIBERS: Record<string, (o: Loose) => string[]> = {
  ServiceAccount: describeServiceAccount,
  Role: describeRole,
  ClusterRole: describeRole,
  RoleBinding: describeBinding,
  ClusterRoleBinding: describeBinding,
};
