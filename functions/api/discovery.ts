/**
 * The discovery documents kubectl reads before anything else: `/api` (APIVersions), `/apis`
 * (APIGroupList), `/apis/{group}` (APIGroup) and `/api/v1`, `/apis/{group}/{version}`
 * (APIResourceList). All of it is derived from the kinds in schemas/.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#discovery-api
 */
import { kinds } from '../../schemas';
import { AUTOSCALING_V1_VERSION } from './autoscaling-v1';
import { METRICS_GROUP, METRICS_VERSION, metricsGroup, metricsResourceList } from './metrics-api-route';
import { FERRY_GROUP, FERRY_VERSION } from './router';

const OBJECT_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update'];
const STATUS_VERBS = ['get', 'patch', 'update'];

export function apiVersions(): object {
  return {
    kind: 'APIVersions',
    apiVersion: 'v1',
    versions: versionsOf(''),
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }],
  };
}

export function apiGroupList(): object {
  const groups = [...new Set(kinds.filter((k) => k.group !== '').map((k) => k.group))].sort();
  // The resource metrics API has no stored kinds (metrics-api-route.ts).
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups.map(groupOf), metricsGroup()] };
}

export function apiGroup(group: string): object {
  if (group === METRICS_GROUP) return { kind: 'APIGroup', apiVersion: 'v1', ...metricsGroup() };
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupOf(group) };
}

export function apiResourceList(group: string, version: string): object {
  if (group === METRICS_GROUP && version === METRICS_VERSION) return metricsResourceList();
  const resources: object[] = [];
  for (const k of kinds.filter((k) => k.group === group && k.version === version)) {
    resources.push({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: OBJECT_VERBS,
      ...(k.shortNames.length ? { shortNames: [...k.shortNames] } : {}),
    });
    for (const sub of k.subresources) {
      if (sub === 'eviction') {
        // kubectl drain looks for pods/eviction here and POSTs an Eviction of the group-version named.
        resources.push({
          name: `${k.plural}/eviction`,
          singularName: '',
          namespaced: true,
          group: 'policy',
          version: 'v1',
          kind: 'Eviction',
          verbs: ['create'],
        });
        continue;
      }
      if (sub === 'token') {
        resources.push({
          name: `${k.plural}/token`,
          singularName: '',
          namespaced: true,
          group: 'authentication.k8s.io',
          version: 'v1',
          kind: 'TokenRequest',
          verbs: ['create'],
        });
        continue;
      }
      if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
        // As the API server lists them: connect verbs on their options kinds.
        const options = { exec: 'PodExecOptions', attach: 'PodAttachOptions', portforward: 'PodPortForwardOptions' };
        resources.push({
          name: `${k.plural}/${sub}`,
          singularName: '',
          namespaced: true,
          kind: options[sub],
          verbs: ['create', 'get'],
        });
        continue;
      }
      resources.push({
        name: `${k.plural}/${sub}`,
        singularName: '',
        namespaced: k.namespaced,
        kind: sub === 'scale' ? 'Scale' : k.kind,
        verbs: STATUS_VERBS,
      });
    }
  }
  if (group === FERRY_GROUP && version === FERRY_VERSION) {
    resources.push({
      name: 'tokens',
      singularName: 'token',
      namespaced: false,
      kind: 'Token',
      verbs: ['create', 'delete', 'get', 'list'],
    });
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

function versionsOf(group: string): string[] {
  return [...new Set(kinds.filter((k) => k.group === group).map((k) => k.version))].sort();
}

function groupOf(group: string): object {
  const versions = versionsOf(group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  // autoscaling/v1 is served as a view of v2 (autoscaling-v1.ts), listed after the preferred v2.
  if (group === 'autoscaling') versions.push(AUTOSCALING_V1_VERSION);
  return { name: group, versions, preferredVersion: versions[0] };
}
