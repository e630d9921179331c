/**
 * Defaulting, the Kubernetes way (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go):
 * applied before validation, so a stored object always carries its effective settings.
 */

import { defaultHpaSpec, HPA_KIND } from './autoscaling';
import { kindInfo } from './kinds';
import type { Obj } from './object';
import { defaultLimitRangeItem, type LimitRangeItem } from './policy';
import { RBAC_GROUP } from './rbac';
import { isConfigKey } from './rules/config';
import { DEFAULT_SERVICE_ACCOUNT } from './service-account';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

function setDefault(target: Rec, key: string, value: unknown): void {
  if (target[key] === undefined) target[key] = value;
}

/** A defaulted deep copy of `obj`. Never throws: shapes it does not recognise are left for validation. */
export function applyDefaults<T extends Obj>(obj: T): T {
  const out = structuredClone(obj) as T;
  if (!isRec(out) || !isRec(out.metadata)) return out;
  const info = kindInfo(out.kind);
  if (info?.namespaced) setDefault(out.metadata as unknown as Rec, 'namespace', 'default');
  const spec = out.spec;
  switch (out.kind) {
    case 'Pod':
      if (isRec(spec)) {
        defaultPodSpec(spec);
        // Kubernetes' ServiceAccount admission names `default` for a pod that names none.
        setDefault(spec, 'serviceAccountName', DEFAULT_SERVICE_ACCOUNT);
        spec.serviceAccount = spec.serviceAccountName;
      }
      break;
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      defaultBinding(out as unknown as Rec);
      break;
    case HPA_KIND:
      if (isRec(spec)) defaultHpaSpec(spec);
      break;
    case 'Deployment':
      if (isRec(spec)) {
        setDefault(spec, 'replicas', 1);
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'progressDeadlineSeconds', 600);
        setDefault(spec, 'minReadySeconds', 0);
        setDefault(spec, 'strategy', {});
        const strategy = spec.strategy;
        if (isRec(strategy)) {
          setDefault(strategy, 'type', 'RollingUpdate');
          if (strategy.type === 'RollingUpdate') {
            setDefault(strategy, 'rollingUpdate', {});
            if (isRec(strategy.rollingUpdate)) {
              setDefault(strategy.rollingUpdate, 'maxSurge', '25%');
              setDefault(strategy.rollingUpdate, 'maxUnavailable', '25%');
            }
          }
        }
        defaultTemplate(spec.template);
      }
      break;
    case 'DaemonSet':
      // pkg/apis/apps/v1/defaults.go SetDefaults_DaemonSet.
      if (isRec(spec)) {
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'minReadySeconds', 0);
        setDefault(spec, 'updateStrategy', {});
        const strategy = spec.updateStrategy;
        if (isRec(strategy)) {
          setDefault(strategy, 'type', 'RollingUpdate');
          if (strategy.type === 'RollingUpdate') {
            setDefault(strategy, 'rollingUpdate', {});
            if (isRec(strategy.rollingUpdate)) {
              setDefault(strategy.rollingUpdate, 'maxUnavailable', 1);
              setDefault(strategy.rollingUpdate, 'maxSurge', 0);
            }
          }
        }
        defaultTemplate(spec.template);
      }
      break;
    case 'CronJob':
      if (isRec(spec)) {
        setDefault(spec, 'concurrencyPolicy', 'Allow');
        setDefault(spec, 'suspend', false);
        setDefault(spec, 'successfulJobsHistoryLimit', 3);
        setDefault(spec, 'failedJobsHistoryLimit', 1);
        if (isRec(spec.jobTemplate) && isRec(spec.jobTemplate.spec)) defaultJobSpec(spec.jobTemplate.spec);
      }
      break;
    case 'Job':
      if (isRec(spec)) defaultJobSpec(spec);
      break;
    case 'LimitRange':
      if (isRec(spec) && Array.isArray(spec.limits))
        for (const item of spec.limits) if (isRec(item)) defaultLimitRangeItem(item as unknown as LimitRangeItem);
      break;
    case 'PriorityClass':
      setDefault(out as unknown as Rec, 'preemptionPolicy', 'PreemptLowerPriority');
      break;
    case 'ReplicaSet':
      if (isRec(spec)) {
        setDefault(spec, 'replicas', 1);
        setDefault(spec, 'minReadySeconds', 0);
        defaultTemplate(spec.template);
      }
      break;
    case 'Secret':
      defaultSecret(out as unknown as Rec);
      break;
    case 'Service':
      if (isRec(spec)) {
        setDefault(spec, 'type', 'ClusterIP');
        setDefault(spec, 'sessionAffinity', 'None');
        if (spec.type === 'NodePort' || spec.type === 'LoadBalancer')
          setDefault(spec, 'externalTrafficPolicy', 'Cluster');
        if (spec.type !== 'ExternalName') defaultClusterIPs(spec);
        if (Array.isArray(spec.ports)) {
          for (const p of spec.ports) {
            if (!isRec(p)) continue;
            setDefault(p, 'protocol', 'TCP');
            setDefault(p, 'targetPort', p.port);
          }
        }
      }
      break;
    case 'NetworkPolicy':
      if (isRec(spec)) defaultNetworkPolicy(spec);
      break;
    case 'IngressClass':
      // pkg/apis/networking/v1/defaults.go: parameters without a scope are cluster-scoped.
      if (isRec(spec) && isRec(spec.parameters)) setDefault(spec.parameters, 'scope', 'Cluster');
      break;
    case 'StatefulSet':
      if (isRec(spec)) defaultStatefulSet(spec);
      break;
    case 'PersistentVolumeClaim':
      if (isRec(spec)) setDefault(spec, 'volumeMode', 'Filesystem');
      break;
    case 'PersistentVolume':
      if (isRec(spec)) {
        // A PV made by hand keeps its data when its claim goes (Kubernetes' default for static PVs).
        setDefault(spec, 'persistentVolumeReclaimPolicy', 'Retain');
        setDefault(spec, 'volumeMode', 'Filesystem');
      }
      break;
    case 'StorageClass':
      setDefault(out as unknown as Rec, 'reclaimPolicy', 'Delete');
      setDefault(out as unknown as Rec, 'volumeBindingMode', 'Immediate');
      break;
    case 'NodePool':
      if (isRec(spec)) {
        setDefault(spec, 'minNodes', 0);
        setDefault(spec, 'maxUnavailable', 1);
        setDefault(spec, 'maxSurge', 1);
        // cluster-autoscaler's defaults (--scale-down-unneeded-time, -utilization-threshold, -delay-after-add, -delay-after-delete).
        if (isRec(spec.autoscaling)) {
          setDefault(spec.autoscaling, 'scaleDownUnneededSeconds', 600);
          setDefault(spec.autoscaling, 'scaleDownUtilizationThreshold', 0.5);
          setDefault(spec.autoscaling, 'scaleDownDelayAfterAddSeconds', 600);
          setDefault(spec.autoscaling, 'scaleDownDelayAfterDeleteSeconds', 10);
          setDefault(spec.autoscaling, 'priority', 0);
        }
      }
      break;
  }
  return out;
}

/**
 * `clusterIP` and `clusterIPs` mirror each other (Kubernetes: either may be given, clusterIPs[0] is
 * clusterIP), and the family fields say what ferry runs: single-stack IPv4.
 */
function defaultClusterIPs(spec: Rec): void {
  const ips = spec.clusterIPs;
  if (
    typeof spec.clusterIP === 'string' &&
    spec.clusterIP !== '' &&
    (ips === undefined || (Array.isArray(ips) && ips.length === 0))
  )
    spec.clusterIPs = [spec.clusterIP];
  else if ((spec.clusterIP === undefined || spec.clusterIP === '') && Array.isArray(ips) && typeof ips[0] === 'string')
    spec.clusterIP = ips[0];
  setDefault(spec, 'ipFamilies', ['IPv4']);
  setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
}

/** pkg/apis/apps/v1/defaults.go SetDefaults_StatefulSet. */
function defaultStatefulSet(spec: Rec): void {
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'podManagementPolicy', 'OrderedReady');
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'minReadySeconds', 0);
  setDefault(spec, 'updateStrategy', {});
  if (isRec(spec.updateStrategy)) {
    setDefault(spec.updateStrategy, 'type', 'RollingUpdate');
    if (spec.updateStrategy.type === 'RollingUpdate') {
      setDefault(spec.updateStrategy, 'rollingUpdate', {});
      if (isRec(spec.updateStrategy.rollingUpdate)) setDefault(spec.updateStrategy.rollingUpdate, 'partition', 0);
    }
  }
  setDefault(spec, 'persistentVolumeClaimRetentionPolicy', {});
  if (isRec(spec.persistentVolumeClaimRetentionPolicy)) {
    setDefault(spec.persistentVolumeClaimRetentionPolicy, 'whenDeleted', 'Retain');
    setDefault(spec.persistentVolumeClaimRetentionPolicy, 'whenScaled', 'Retain');
  }
  if (Array.isArray(spec.volumeClaimTemplates))
    for (const t of spec.volumeClaimTemplates)
      if (isRec(t) && isRec(t.spec)) setDefault(t.spec, 'volumeMode', 'Filesystem');
  defaultTemplate(spec.template);
}

/** A Job's spec (also a CronJob's jobTemplate.spec). */
function defaultJobSpec(spec: Rec): void {
  // Kubernetes: both unset means one pod to one success.
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  setDefault(spec, 'parallelism', 1);
  setDefault(spec, 'backoffLimit', 6);
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  const podSpec = isRec(spec.template) && isRec(spec.template.spec) ? spec.template.spec : undefined;
  const policy = podSpec?.restartPolicy;
  defaultTemplate(spec.template);
  // No default here: a Job's pods must say OnFailure or Never (validation names the field).
  if (podSpec && policy === undefined) delete podSpec.restartPolicy;
}

function defaultTemplate(template: unknown): void {
  if (isRec(template) && isRec(template.spec)) defaultPodSpec(template.spec);
}

function defaultPodSpec(spec: Rec): void {
  // `serviceAccount` is the deprecated alias: read when the name is unset, and always kept equal
  // to it (Kubernetes' defaulting and its v1 conversion).
  if (typeof spec.serviceAccount === 'string' && spec.serviceAccount !== '')
    setDefault(spec, 'serviceAccountName', spec.serviceAccount);
  if (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName !== '')
    spec.serviceAccount = spec.serviceAccountName;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'schedulerName', 'default-scheduler');
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) if (isRec(c)) defaultContainer(c);
  }
}

/** Kubernetes' SetDefaults_Subject and roleRef: User and Group subjects, and roles, are RBAC's group. */
function defaultBinding(binding: Rec): void {
  if (isRec(binding.roleRef)) setDefault(binding.roleRef, 'apiGroup', RBAC_GROUP);
  if (!Array.isArray(binding.subjects)) return;
  for (const s of binding.subjects) {
    if (!isRec(s)) continue;
    if (s.kind === 'ServiceAccount') setDefault(s, 'apiGroup', '');
    else if (s.kind === 'User' || s.kind === 'Group') setDefault(s, 'apiGroup', RBAC_GROUP);
  }
}

function defaultContainer(c: Rec): void {
  if (typeof c.image === 'string') setDefault(c, 'imagePullPolicy', pullPolicyFor(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isRec(p)) setDefault(p, 'protocol', 'TCP');
  for (const key of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const probe = c[key];
    if (!isRec(probe)) continue;
    setDefault(probe, 'timeoutSeconds', 1);
    setDefault(probe, 'periodSeconds', 10);
    setDefault(probe, 'successThreshold', 1);
    setDefault(probe, 'failureThreshold', 3);
    if (isRec(probe.httpGet)) {
      setDefault(probe.httpGet, 'path', '/');
      setDefault(probe.httpGet, 'scheme', 'HTTP');
    }
  }
}

/** Always for `:latest` or no tag, IfNotPresent otherwise (a digest counts as a tag). */
export function pullPolicyFor(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon === -1) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

/**
 * A Secret's `stringData` is write-only: merged into `data` (base64), winning over the same key
 * there, and never stored, as the Kubernetes API server does. `type` defaults to Opaque.
 */
function defaultSecret(secret: Rec): void {
  setDefault(secret, 'type', 'Opaque');
  const strings = secret.stringData;
  if (!isRec(strings) || !Object.values(strings).every((v) => typeof v === 'string')) return;
  if (secret.data !== undefined && !isRec(secret.data)) return;
  // Left in place for validation to reject under their own field name.
  if (!Object.keys(strings).every(isConfigKey)) return;
  const data: Rec = { ...((secret.data as Rec | undefined) ?? {}) };
  for (const [k, v] of Object.entries(strings)) data[k] = Buffer.from(v as string, 'utf8').toString('base64');
  secret.data = data;
  delete secret.stringData;
}

/**
 * pkg/apis/networking/v1/defaults.go: a policy without `policyTypes` is an Ingress policy, and an
 * Egress one too when it has egress rules; ports default to TCP; a missing podSelector selects all.
 */
function defaultNetworkPolicy(spec: Rec): void {
  setDefault(spec, 'podSelector', {});
  if (spec.policyTypes === undefined)
    spec.policyTypes = Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  for (const dir of ['ingress', 'egress']) {
    const rules = spec[dir];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!isRec(rule) || !Array.isArray(rule.ports)) continue;
      for (const p of rule.ports) if (isRec(p)) setDefault(p, 'protocol', 'TCP');
    }
  }
}
