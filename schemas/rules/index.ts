/**
 * The rules a JSON Schema cannot say, per kind, run after the schema: one file per kind family,
 * each pushing causes built with ../causes.ts. Metadata rules run for every kind.
 */
import type { KindInfo } from '../kinds';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { checkHorizontalPodAutoscaler } from './autoscaling';
import { checkConfigData } from './config';
import { checkDaemonSet } from './daemonset';
import { checkPodDisruptionBudget } from './disruption';
import { checkEndpoints } from './endpoints';
import { checkMetadata } from './meta';
import { checkIngress, checkIngressClass, checkNetworkPolicy } from './networking';
import { checkNodePool } from './nodepool';
import { checkPodSpec } from './pod';
import { checkBinding, checkRoleRules } from './rbac';
import { checkPriorityClass } from './scheduling';
import { checkService } from './service';
import { checkStatefulSet } from './statefulset';
import { checkClaim, checkStorageClass, checkVolume } from './storage';
import { checkCronJob, checkJob, checkWorkload } from './workloads';

type Rule = (obj: Rec, causes: StatusCause[]) => void;

const withSpec =
  (rule: (spec: Rec, causes: StatusCause[]) => void): Rule =>
  (obj, causes) => {
    if (isRec(obj.spec)) rule(obj.spec, causes);
  };

const RULES: Record<string, Rule> = {
  Pod: withSpec((spec, causes) => checkPodSpec(spec, 'spec', causes)),
  Deployment: withSpec(checkWorkload),
  ReplicaSet: withSpec(checkWorkload),
  DaemonSet: withSpec(checkDaemonSet),
  PodDisruptionBudget: withSpec(checkPodDisruptionBudget),
  StatefulSet: checkStatefulSet,
  PersistentVolumeClaim: checkClaim,
  PersistentVolume: checkVolume,
  StorageClass: checkStorageClass,
  Job: withSpec((spec, causes) => checkJob(spec, causes)),
  CronJob: withSpec(checkCronJob),
  Service: withSpec(checkService),
  Endpoints: checkEndpoints,
  PriorityClass: checkPriorityClass,
  Secret: checkConfigData,
  ConfigMap: checkConfigData,
  Role: checkRoleRules(true),
  ClusterRole: checkRoleRules(false),
  RoleBinding: checkBinding(true),
  ClusterRoleBinding: checkBinding(false),
  Ingress: checkIngress,
  IngressClass: checkIngressClass,
  NetworkPolicy: checkNetworkPolicy,
  NodePool: withSpec(checkNodePool),
  HorizontalPodAutoscaler: withSpec(checkHorizontalPodAutoscaler),
};

export function semantic(info: KindInfo, obj: Rec): StatusCause[] {
  const causes: StatusCause[] = [];
  checkMetadata(info, obj, causes);
  RULES[info.kind]?.(obj, causes);
  return causes;
}
