/**
 * The downward API's `resourceFieldRef`, in `env[].valueFrom` and in downwardAPI volume items (a
 * volume or a projected source), validated as Kubernetes' validateContainerResourceFieldSelector:
 * a resource of `limits.|requests.` cpu, memory or ephemeral-storage, a divisor of those
 * Kubernetes allows for it (`0` reads as 1, as exported pods carry it), a containerName that
 * names a container of the pod (required in a volume, where there is no container to default
 * to), and in a volume item exactly one of fieldRef and resourceFieldRef. HugePages are refused
 * as ferry refuses their limits.
 */
import { invalid, notFound, notSupported, required } from '../causes';
import { isQuantity, parseQuantity } from '../quantity';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

export const RESOURCE_FIELD_RESOURCES = [
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
] as const;

const CPU_DIVISORS = ['1m', '1'];
const BYTE_DIVISORS = ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'];

export function checkResourceFieldRefs(spec: Rec, path: string, causes: StatusCause[]): void {
  const containers = new Set<unknown>();
  for (const list of ['initContainers', 'containers'])
    for (const c of Array.isArray(spec[list]) ? spec[list] : []) if (isRec(c)) containers.add(c.name);
  for (const list of ['initContainers', 'containers']) {
    const cs = Array.isArray(spec[list]) ? spec[list] : [];
    cs.forEach((c, i) => {
      if (!isRec(c) || !Array.isArray(c.env)) return;
      c.env.forEach((e, j) => {
        const ref = isRec(e) && isRec(e.valueFrom) ? e.valueFrom.resourceFieldRef : undefined;
        if (isRec(ref))
          checkRef(ref, `${path}.${list}[${i}].env[${j}].valueFrom.resourceFieldRef`, containers, false, causes);
      });
    });
  }
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  volumes.forEach((v, i) => {
    if (!isRec(v)) return;
    const at = `${path}.volumes[${i}]`;
    if (isRec(v.downwardAPI)) checkItems(v.downwardAPI.items, `${at}.downwardAPI.items`, containers, causes);
    const sources = isRec(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources : [];
    sources.forEach((s, j) => {
      if (isRec(s) && isRec(s.downwardAPI))
        checkItems(s.downwardAPI.items, `${at}.projected.sources[${j}].downwardAPI.items`, containers, causes);
    });
  });
}

function checkItems(items: unknown, at: string, containers: Set<unknown>, causes: StatusCause[]): void {
  if (!Array.isArray(items)) return;
  items.forEach((item, k) => {
    if (!isRec(item)) return;
    const ip = `${at}[${k}]`;
    if (item.fieldRef !== undefined && item.resourceFieldRef !== undefined)
      causes.push(
        invalid(
          ip,
          'fieldRef and resourceFieldRef',
          'fieldRef and resourceFieldRef can not be specified simultaneously',
        ),
      );
    else if (item.fieldRef === undefined && item.resourceFieldRef === undefined)
      causes.push(required(`${ip}.fieldRef`, 'one of fieldRef and resourceFieldRef is required'));
    if (isRec(item.resourceFieldRef))
      checkRef(item.resourceFieldRef, `${ip}.resourceFieldRef`, containers, true, causes);
  });
}

function checkRef(ref: Rec, at: string, containers: Set<unknown>, inVolume: boolean, causes: StatusCause[]): void {
  const name = ref.containerName;
  if (name === undefined || name === '') {
    if (inVolume) causes.push(required(`${at}.containerName`));
  } else if (!containers.has(name)) causes.push(notFound(`${at}.containerName`, name));
  const resource = ref.resource;
  if (typeof resource === 'string' && /^(limits|requests)\.hugepages-/.test(resource)) {
    causes.push({
      field: `${at}.resource`,
      reason: 'FieldValueNotSupported',
      message: 'ferry does not support hugepages resourceFieldRef yet',
    });
    return;
  }
  if (!(RESOURCE_FIELD_RESOURCES as readonly unknown[]).includes(resource)) {
    causes.push(notSupported(`${at}.resource`, resource, RESOURCE_FIELD_RESOURCES));
    return;
  }
  const divisor = ref.divisor;
  if (divisor === undefined) return;
  if (!isQuantity(divisor)) {
    causes.push(invalid(`${at}.divisor`, divisor, 'must be a quantity'));
    return;
  }
  const value = parseQuantity(divisor as string | number);
  if (value === 0) return;
  const cpu = (resource as string).endsWith('.cpu');
  const allowed = cpu ? CPU_DIVISORS : BYTE_DIVISORS;
  if (!allowed.some((d) => parseQuantity(d) === value))
    causes.push(
      invalid(
        `${at}.divisor`,
        divisor,
        `only divisor's values ${allowed.join(', ')} are supported with the ${cpu ? 'cpu' : (resource as string).split('.')[1]} resource`,
      ),
    );
}
