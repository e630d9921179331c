/** The registry of kinds ferry serves: REST names, scope and schema of each. */
import type { TSchema } from 'typebox';
import { HorizontalPodAutoscalerSchema } from './autoscaling';
import { ConfigMapSchema, EventSchema, NamespaceSchema, SecretSchema } from './core';
import { DaemonSetSchema } from './daemonset';
import { PodDisruptionBudgetSchema } from './disruption';
import { CloudSchema, NodePoolSchema } from './ferry';
import { IngressClassSchema, IngressSchema, NetworkPolicySchema } from './networking';
import { LeaseSchema, NodeSchema } from './node';
import { PodSchema } from './pod';
import { LimitRangeSchema, ResourceQuotaSchema } from './policy';
import { ClusterRoleBindingSchema, ClusterRoleSchema, RoleBindingSchema, RoleSchema } from './rbac';
import { PriorityClassSchema } from './scheduling';
import { EndpointsSchema, ServiceSchema } from './service';
import { ServiceAccountSchema } from './service-account';
import { ControllerRevisionSchema, StatefulSetSchema } from './statefulset';
import { PersistentVolumeClaimSchema, PersistentVolumeSchema, StorageClassSchema } from './storage';
import { CronJobSchema, DeploymentSchema, JobSchema, ReplicaSetSchema } from './workloads';

export interface KindInfo {
  kind: string;
  apiVersion: string;
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  listKind: string;
  subresources: ('status' | 'scale' | 'rollback' | 'log' | 'eviction' | 'exec' | 'attach' | 'portforward' | 'token')[];
  schema: TSchema;
}

function info(
  apiVersion: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  shortNames: string[],
  subresources: KindInfo['subresources'],
  schema: TSchema,
): KindInfo {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  return {
    kind,
    apiVersion,
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    shortNames,
    namespaced,
    listKind: `${kind}List`,
    subresources,
    schema,
  };
}

export const kinds: readonly KindInfo[] = [
  info('v1', 'Namespace', 'namespaces', false, ['ns'], ['status'], NamespaceSchema),
  info('v1', 'Pod', 'pods', true, ['po'], ['status', 'log', 'eviction', 'exec', 'attach', 'portforward'], PodSchema),
  info('v1', 'Service', 'services', true, ['svc'], ['status'], ServiceSchema),
  info('v1', 'Endpoints', 'endpoints', true, ['ep'], [], EndpointsSchema),
  info('v1', 'Node', 'nodes', false, ['no'], ['status'], NodeSchema),
  info('v1', 'Event', 'events', true, ['ev'], [], EventSchema),
  info('v1', 'Secret', 'secrets', true, [], [], SecretSchema),
  info('v1', 'ConfigMap', 'configmaps', true, ['cm'], [], ConfigMapSchema),
  info('v1', 'ResourceQuota', 'resourcequotas', true, ['quota'], ['status'], ResourceQuotaSchema),
  info('v1', 'LimitRange', 'limitranges', true, ['limits'], [], LimitRangeSchema),
  info('apps/v1', 'Deployment', 'deployments', true, ['deploy'], ['status', 'scale', 'rollback'], DeploymentSchema),
  info('apps/v1', 'ReplicaSet', 'replicasets', true, ['rs'], ['status', 'scale'], ReplicaSetSchema),
  info('apps/v1', 'DaemonSet', 'daemonsets', true, ['ds'], ['status'], DaemonSetSchema),
  info(
    'policy/v1',
    'PodDisruptionBudget',
    'poddisruptionbudgets',
    true,
    ['pdb'],
    ['status'],
    PodDisruptionBudgetSchema,
  ),
  info('apps/v1', 'StatefulSet', 'statefulsets', true, ['sts'], ['status', 'scale'], StatefulSetSchema),
  info('apps/v1', 'ControllerRevision', 'controllerrevisions', true, [], [], ControllerRevisionSchema),
  info('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true, ['pvc'], ['status'], PersistentVolumeClaimSchema),
  info('v1', 'PersistentVolume', 'persistentvolumes', false, ['pv'], ['status'], PersistentVolumeSchema),
  info('storage.k8s.io/v1', 'StorageClass', 'storageclasses', false, ['sc'], [], StorageClassSchema),
  info('batch/v1', 'Job', 'jobs', true, [], ['status'], JobSchema),
  info('batch/v1', 'CronJob', 'cronjobs', true, ['cj'], ['status'], CronJobSchema),
  info('coordination.k8s.io/v1', 'Lease', 'leases', true, [], [], LeaseSchema),
  info('v1', 'ServiceAccount', 'serviceaccounts', true, ['sa'], ['token'], ServiceAccountSchema),
  info('rbac.authorization.k8s.io/v1', 'Role', 'roles', true, [], [], RoleSchema),
  info('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false, [], [], ClusterRoleSchema),
  info('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true, [], [], RoleBindingSchema),
  info(
    'rbac.authorization.k8s.io/v1',
    'ClusterRoleBinding',
    'clusterrolebindings',
    false,
    [],
    [],
    ClusterRoleBindingSchema,
  ),
  info('networking.k8s.io/v1', 'Ingress', 'ingresses', true, ['ing'], ['status'], IngressSchema),
  info('networking.k8s.io/v1', 'IngressClass', 'ingressclasses', false, [], [], IngressClassSchema),
  info('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', true, ['netpol'], [], NetworkPolicySchema),
  info('scheduling.k8s.io/v1', 'PriorityClass', 'priorityclasses', false, ['pc'], [], PriorityClassSchema),
  info(
    'autoscaling/v2',
    'HorizontalPodAutoscaler',
    'horizontalpodautoscalers',
    true,
    ['hpa'],
    ['status'],
    HorizontalPodAutoscalerSchema,
  ),
  info('ferry.dev/v1', 'NodePool', 'nodepools', false, ['np'], ['status'], NodePoolSchema),
  info('ferry.dev/v1', 'Cloud', 'clouds', false, [], ['status'], CloudSchema),
];

const byKind = new Map(kinds.map((k) => [k.kind, k]));

export function kindInfo(kind: string): KindInfo | undefined {
  return byKind.get(kind);
}

/** REST lookup: `/api/v1/pods` is ('', 'v1', 'pods'). */
const byPlural = new Map(kinds.map((k) => [`${k.group}/${k.version}/${k.plural}`, k]));

export function kindByPlural(group: string, version: string, plural: string): KindInfo | undefined {
  return byPlural.get(`${group}/${version}/${plural}`);
}

/** CLI lookup, case-insensitive: kind, plural, singular, short name or `plural.group` (`deployments.apps`). */
export function kindByName(name: string): KindInfo | undefined {
  const n = name.toLowerCase();
  return kinds.find(
    (k) =>
      k.kind.toLowerCase() === n ||
      k.plural === n ||
      k.singular === n ||
      k.shortNames.includes(n) ||
      (k.group !== '' && (`${k.plural}.${k.group}` === n || `${k.singular}.${k.group}` === n)),
  );
}
