/**
 * RBAC objects' rules a schema cannot say, after Kubernetes' pkg/apis/rbac/validation:
 * a rule names verbs, and either resources with apiGroups or non-resource URLs (the latter only
 * in ClusterRoles); a roleRef names a Role (RoleBindings only) or ClusterRole of this API group;
 * subjects are ServiceAccounts, Users or Groups. `aggregationRule` is refused: ferry does not
 * aggregate ClusterRoles, and storing it unaggregated would grant less than the manifest says.
 */
import { invalid, notSupported, required } from '../causes';
import { RBAC_GROUP } from '../rbac';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { validPathSegmentName } from './meta';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from './names';

const SUBJECT_KINDS = ['ServiceAccount', 'User', 'Group'] as const;

export function checkRoleRules(namespaced: boolean): (obj: Rec, causes: StatusCause[]) => void {
  return (obj, causes) => {
    if (obj.aggregationRule !== undefined)
      causes.push(
        invalid(
          'aggregationRule',
          obj.aggregationRule,
          'ferry does not aggregate ClusterRoles yet: list the rules in the ClusterRole itself',
        ),
      );
    const rules = Array.isArray(obj.rules) ? obj.rules : [];
    rules.forEach((rule, i) => {
      if (isRec(rule)) checkPolicyRule(rule, `rules[${i}]`, namespaced, causes);
    });
  };
}

function checkPolicyRule(rule: Rec, path: string, namespaced: boolean, causes: StatusCause[]): void {
  const list = (k: string) => (Array.isArray(rule[k]) ? (rule[k] as unknown[]) : []);
  if (list('verbs').length === 0) causes.push(required(`${path}.verbs`, 'verbs must contain at least one value'));
  const urls = list('nonResourceURLs');
  if (urls.length > 0) {
    if (namespaced) {
      causes.push(invalid(`${path}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs'));
      return;
    }
    if (list('apiGroups').length > 0 || list('resources').length > 0 || list('resourceNames').length > 0)
      causes.push(
        invalid(`${path}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs'),
      );
    urls.forEach((u, j) => {
      // Kubernetes: a URL, or a prefix ending in `*` (`/healthz*`, `*`).
      if (typeof u === 'string' && !u.startsWith('/') && u !== '*')
        causes.push(invalid(`${path}.nonResourceURLs[${j}]`, u, 'must start with "/" (or be "*")'));
      if (typeof u === 'string' && u.slice(0, -1).includes('*'))
        causes.push(invalid(`${path}.nonResourceURLs[${j}]`, u, '"*" is allowed only at the end'));
    });
    return;
  }
  if (list('apiGroups').length === 0)
    causes.push(required(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
  if (list('resources').length === 0)
    causes.push(required(`${path}.resources`, 'resource rules must supply at least one resource'));
}

export function checkBinding(namespaced: boolean): (obj: Rec, causes: StatusCause[]) => void {
  return (obj, causes) => {
    const ref = isRec(obj.roleRef) ? obj.roleRef : {};
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if ((ref.apiGroup ?? RBAC_GROUP) !== RBAC_GROUP)
      causes.push(notSupported('roleRef.apiGroup', ref.apiGroup, [RBAC_GROUP]));
    if (typeof ref.kind === 'string' && !kinds.includes(ref.kind))
      causes.push(notSupported('roleRef.kind', ref.kind, kinds));
    if (typeof ref.name === 'string') {
      if (ref.name === '') causes.push(required('roleRef.name'));
      else if (!validPathSegmentName(ref.name))
        causes.push(invalid('roleRef.name', ref.name, `may not be '.' or '..', or contain '/' or '%'`));
    }
    const subjects = Array.isArray(obj.subjects) ? obj.subjects : [];
    subjects.forEach((s, i) => {
      if (isRec(s)) checkSubject(s, `subjects[${i}]`, namespaced, causes);
    });
  };
}

function checkSubject(s: Rec, path: string, namespaced: boolean, causes: StatusCause[]): void {
  if (typeof s.name !== 'string' || s.name === '') causes.push(required(`${path}.name`));
  switch (s.kind) {
    case 'ServiceAccount':
      if ((s.apiGroup ?? '') !== '') causes.push(notSupported(`${path}.apiGroup`, s.apiGroup, ['']));
      if (typeof s.name === 'string' && s.name !== '' && !DNS1123_SUBDOMAIN.test(s.name))
        causes.push(invalid(`${path}.name`, s.name, 'a ServiceAccount name must be a lowercase RFC 1123 subdomain'));
      if (s.namespace === undefined || s.namespace === '') {
        // A RoleBinding's ServiceAccount subject without a namespace is in the binding's namespace.
        if (!namespaced) causes.push(required(`${path}.namespace`));
      } else if (typeof s.namespace === 'string' && !DNS1123_LABEL.test(s.namespace))
        causes.push(invalid(`${path}.namespace`, s.namespace, 'must be a lowercase RFC 1123 label'));
      break;
    case 'User':
    case 'Group':
      if ((s.apiGroup ?? RBAC_GROUP) !== RBAC_GROUP)
        causes.push(notSupported(`${path}.apiGroup`, s.apiGroup, [RBAC_GROUP]));
      break;
    default:
      causes.push(notSupported(`${path}.kind`, s.kind, SUBJECT_KINDS));
  }
}
