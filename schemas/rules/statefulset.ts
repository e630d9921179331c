/**
 * Rules for StatefulSets: the Deployment ones (selector, template, restartPolicy Always), a
 * serviceName that can be a DNS label, claim templates with unique names that are valid claims,
 * and pod names (`NAME-ORDINAL`) that fit a DNS label, which the hostname must be.
 */
import { duplicate, invalid } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { DNS1123_LABEL } from './names';
import { checkClaimSpec } from './storage';
import { checkWorkload } from './workloads';

export function checkStatefulSet(obj: Rec, causes: StatusCause[]): void {
  const spec = isRec(obj.spec) ? obj.spec : undefined;
  if (!spec) return;
  checkWorkload(withClaimVolumes(spec), causes);
  const name = isRec(obj.metadata) && typeof obj.metadata.name === 'string' ? obj.metadata.name : '';
  // The pod name (NAME-ORDINAL) is the pod's hostname: Kubernetes caps a StatefulSet's name the same way.
  if (name.length > 52)
    causes.push(
      invalid('metadata.name', name, 'must be no more than 52 characters (pod names add "-ORDINAL" and a hash label)'),
    );
  if (typeof spec.serviceName === 'string' && spec.serviceName !== '' && !DNS1123_LABEL.test(spec.serviceName))
    causes.push(invalid('spec.serviceName', spec.serviceName, 'must be a lowercase RFC 1123 label'));
  const strategy = isRec(spec.updateStrategy) ? spec.updateStrategy : {};
  if (strategy.type === 'OnDelete' && strategy.rollingUpdate !== undefined)
    causes.push(
      invalid(
        'spec.updateStrategy.rollingUpdate',
        strategy.rollingUpdate,
        'only allowed for updateStrategy "RollingUpdate"',
      ),
    );
  if (isRec(strategy.rollingUpdate) && strategy.rollingUpdate.maxUnavailable !== undefined)
    causes.push({
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueNotSupported',
      message: 'ferry does not support maxUnavailable for StatefulSets yet (an alpha field: one pod at a time)',
    });
  const names = new Set<string>();
  const templates = Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : [];
  templates.forEach((t, i) => {
    if (!isRec(t)) return;
    const at = `spec.volumeClaimTemplates[${i}]`;
    const tname = isRec(t.metadata) ? t.metadata.name : undefined;
    if (typeof tname !== 'string' || tname === '')
      causes.push({ field: `${at}.metadata.name`, reason: 'FieldValueRequired', message: 'Required value' });
    else if (names.has(tname)) causes.push(duplicate(`${at}.metadata.name`, tname));
    else if (!DNS1123_LABEL.test(tname))
      causes.push(invalid(`${at}.metadata.name`, tname, 'must be a lowercase RFC 1123 label'));
    if (typeof tname === 'string') names.add(tname);
    if (isRec(t.spec)) checkClaimSpec(t.spec, `${at}.spec`, causes);
  });
}

/**
 * The spec as the pods get it: each claim template is a volume the containers may mount (added
 * after the pod's own volumes, so causes about those keep their paths).
 */
function withClaimVolumes(spec: Rec): Rec {
  const template = isRec(spec.template) ? spec.template : undefined;
  const podSpec = template && isRec(template.spec) ? template.spec : undefined;
  if (!template || !podSpec || !Array.isArray(spec.volumeClaimTemplates)) return spec;
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
  const have = new Set(volumes.filter(isRec).map((v) => v.name));
  const added = spec.volumeClaimTemplates
    .map((t) => (isRec(t) && isRec(t.metadata) ? t.metadata.name : undefined))
    .filter((n): n is string => typeof n === 'string' && DNS1123_LABEL.test(n) && !have.has(n))
    .map((name) => ({ name, persistentVolumeClaim: { claimName: name } }));
  if (added.length === 0) return spec;
  return { ...spec, template: { ...template, spec: { ...podSpec, volumes: [...volumes, ...added] } } };
}
