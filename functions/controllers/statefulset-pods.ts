/**
 * What a StatefulSet makes, as Kubernetes' stateful_set_utils.go makes it: the pod of an ordinal
 * (`NAME-ORDINAL`, hostname = its name, subdomain = serviceName, the pod-name and pod-index labels,
 * its claims as volumes) at a given revision, the claim of a template for a pod
 * (`TEMPLATE-POD`), and the ControllerRevisions that keep each template the set has had.
 */
import {
  CONTROLLER_REVISION_HASH_LABEL,
  type ControllerRevision,
  type PersistentVolumeClaim,
  type Pod,
  type PodTemplateSpec,
  STS_POD_INDEX_LABEL,
  STS_POD_NAME_LABEL,
  type StatefulSet,
} from '../../schemas';
import type { OwnerReference } from '../store/types';
import { ownerReferenceTo, podFromTemplate, templateHash } from './util';

export function podName(sts: StatefulSet, ordinal: number): string {
  return `${sts.metadata.name}-${ordinal}`;
}

/** The ordinal in a pod's name, or undefined when the name is not `SET-N`. */
export function ordinalOf(sts: StatefulSet, pod: Pod): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const rest = pod.metadata.name.startsWith(prefix) ? pod.metadata.name.slice(prefix.length) : '';
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

export function claimName(template: string, pod: string): string {
  return `${template}-${pod}`;
}

/** The revision name of a template: `SET-HASH`, what the pods' controller-revision-hash label holds. */
export function revisionName(sts: StatefulSet, template: PodTemplateSpec): string {
  return `${sts.metadata.name}-${templateHash(template)}`;
}

export function revisionOf(pod: Pod): string | undefined {
  return pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
}

export function newRevision(sts: StatefulSet, number: number): ControllerRevision {
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(sts, sts.spec.template),
      namespace: sts.metadata.namespace as string,
      labels: { ...sts.spec.selector.matchLabels },
      ownerReferences: [ownerReferenceTo(sts)],
    },
    data: { spec: { template: structuredClone(sts.spec.template) } },
    revision: number,
  } as ControllerRevision;
}

export function templateOf(rev: ControllerRevision): PodTemplateSpec | undefined {
  return (rev.data as { spec?: { template?: PodTemplateSpec } } | undefined)?.spec?.template;
}

export function statefulPod(sts: StatefulSet, ordinal: number, template: PodTemplateSpec, revision: string): Pod {
  const name = podName(sts, ordinal);
  const pod = podFromTemplate(sts, template, {
    [STS_POD_NAME_LABEL]: name,
    [STS_POD_INDEX_LABEL]: String(ordinal),
    [CONTROLLER_REVISION_HASH_LABEL]: revision,
  });
  pod.metadata.name = name;
  pod.spec.hostname = name;
  if (sts.spec.serviceName) pod.spec.subdomain = sts.spec.serviceName;
  const claims = sts.spec.volumeClaimTemplates ?? [];
  const templated = new Set(claims.map((c) => c.metadata.name));
  // A claim template wins over a pod volume of the same name, as in Kubernetes.
  const volumes = (pod.spec.volumes ?? []).filter((v) => !templated.has(v.name));
  for (const c of claims)
    volumes.push({
      name: c.metadata.name as string,
      persistentVolumeClaim: { claimName: claimName(c.metadata.name as string, name) },
    });
  if (volumes.length > 0) pod.spec.volumes = volumes;
  return pod;
}

/**
 * The claim of `template` for the pod: the template's labels plus the set's selector labels, its
 * spec, and the owner the retention policy asks for (the set, when `whenDeleted: Delete`).
 */
export function statefulClaim(
  sts: StatefulSet,
  template: NonNullable<StatefulSet['spec']['volumeClaimTemplates']>[number],
  pod: string,
): PersistentVolumeClaim {
  const owners: OwnerReference[] = [];
  if (sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete')
    owners.push({ ...ownerReferenceTo(sts), controller: false });
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: claimName(template.metadata.name as string, pod),
      namespace: sts.metadata.namespace as string,
      labels: { ...template.metadata.labels, ...sts.spec.selector.matchLabels },
      ...(template.metadata.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ...(owners.length > 0 ? { ownerReferences: owners } : {}),
    },
    spec: structuredClone(template.spec),
    status: { phase: 'Pending' },
  } as PersistentVolumeClaim;
}
