/**
 * Rules for a pod spec (a Pod's, or a template's) that its schema cannot say: unique container
 * and volume names, mounts of declared volumes, resource quantities, file modes, item paths.
 */
import { duplicate, invalid, invalidMessage, notFound, required } from '../causes';
import { refusedPodFields } from '../pod-refused';
import { quantityProblem } from '../quantity';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { checkLabels } from './meta';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from './names';
import { checkPodDns } from './pod-dns';
import { checkResourceFieldRefs } from './pod-resource-fields';
import { checkContainerResources } from './resources';

export function checkPodSpec(spec: Rec, path: string, causes: StatusCause[]): void {
  const names = new Set<string>();
  const volumes = new Set((Array.isArray(spec.volumes) ? spec.volumes : []).filter(isRec).map((v) => v.name));
  checkVolumes(spec.volumes, `${path}.volumes`, causes);
  for (const listName of ['initContainers', 'containers']) {
    const list = spec[listName];
    if (!Array.isArray(list)) continue;
    list.forEach((c, i) => {
      if (isRec(c)) checkContainer(c, `${path}.${listName}[${i}]`, names, volumes, causes);
    });
  }
  checkLabels(spec.nodeSelector, `${path}.nodeSelector`, causes);
  const account = spec.serviceAccountName;
  if (typeof account === 'string' && account !== '' && (!DNS1123_SUBDOMAIN.test(account) || account.length > 253))
    causes.push(
      invalid(`${path}.serviceAccountName`, account, 'a ServiceAccount name must be a lowercase RFC 1123 subdomain'),
    );
  checkPodDns(spec, path, causes);
  checkResourceFieldRefs(spec, path, causes);
  causes.push(...refusedPodFields(spec, path));
}

function checkContainer(c: Rec, at: string, names: Set<string>, volumes: Set<unknown>, causes: StatusCause[]): void {
  if (typeof c.name === 'string') {
    if (names.has(c.name)) causes.push(duplicate(`${at}.name`, c.name));
    else if (!DNS1123_LABEL.test(c.name))
      causes.push(invalid(`${at}.name`, c.name, 'must be a lowercase RFC 1123 label'));
    names.add(c.name);
  }
  if (typeof c.image === 'string' && c.image.trim() === '') causes.push(required(`${at}.image`));
  // The agent bind-mounts the message file there (agent/pods/termination-message.ts).
  const message = c.terminationMessagePath;
  if (typeof message === 'string' && (!message.startsWith('/') || message.includes('\0') || message.length > 4096))
    causes.push(invalid(`${at}.terminationMessagePath`, message, 'must be an absolute path'));
  const ports = Array.isArray(c.ports) ? c.ports.filter(isRec) : [];
  const portNames = new Set<unknown>();
  ports.forEach((p, j) => {
    if (p.name === undefined) return;
    if (portNames.has(p.name)) causes.push(duplicate(`${at}.ports[${j}].name`, p.name));
    portNames.add(p.name);
  });
  if (isRec(c.resources)) {
    for (const part of ['limits', 'requests']) {
      const list = c.resources[part];
      if (!isRec(list)) continue;
      for (const [res, q] of Object.entries(list)) {
        const problem = quantityProblem(q);
        if (problem) causes.push(invalid(`${at}.resources.${part}[${res}]`, q, problem));
      }
    }
    checkContainerResources(c.resources, at, causes);
  }
  const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts.filter(isRec) : [];
  mounts.forEach((m, j) => {
    if (!volumes.has(m.name)) causes.push(notFound(`${at}.volumeMounts[${j}].name`, m.name));
  });
}

/**
 * Volume names become directory names on the node, and configMap/secret items become file paths
 * under them: names are DNS-1123 labels and item paths stay inside the volume, as in Kubernetes.
 */
function checkVolumes(list: unknown, path: string, causes: StatusCause[]): void {
  if (!Array.isArray(list)) return;
  const seen = new Set<unknown>();
  list.forEach((v, i) => {
    if (!isRec(v)) return;
    const at = `${path}[${i}]`;
    if (typeof v.name === 'string' && !DNS1123_LABEL.test(v.name))
      causes.push(invalid(`${at}.name`, v.name, 'must be a lowercase RFC 1123 label'));
    else if (seen.has(v.name)) causes.push(duplicate(`${at}.name`, v.name));
    seen.add(v.name);
    // The agent evicts a pod whose disk emptyDir passes it (agent/pods/pod-failure.ts); Memory sizes a tmpfs.
    const size = isRec(v.emptyDir) ? v.emptyDir.sizeLimit : undefined;
    const sizeProblem = size === undefined ? undefined : quantityProblem(size);
    if (sizeProblem) causes.push(invalid(`${at}.emptyDir.sizeLimit`, size, sizeProblem));
    const claim = v.persistentVolumeClaim;
    if (isRec(claim) && (typeof claim.claimName !== 'string' || claim.claimName === ''))
      causes.push(required(`${at}.persistentVolumeClaim.claimName`));
    for (const [source, nameField] of [
      ['configMap', 'name'],
      ['secret', 'secretName'],
    ] as const) {
      const src = v[source];
      if (isRec(src)) checkProjection(src, `${at}.${source}`, nameField, causes);
    }
    const sources = isRec(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources : [];
    sources.forEach((src, j) => {
      const token = isRec(src) ? src.serviceAccountToken : undefined;
      if (isRec(token)) checkPath(token.path, `${at}.projected.sources[${j}].serviceAccountToken.path`, causes);
    });
  });
}

function checkPath(path: unknown, field: string, causes: StatusCause[]): void {
  if (typeof path !== 'string' || path === '') causes.push(required(field));
  else if (path.startsWith('/') || path.split('/').includes('..') || path.includes('\0'))
    causes.push(invalid(field, path, "must be a relative path without '..'"));
}

function checkProjection(src: Rec, at: string, nameField: string, causes: StatusCause[]): void {
  const name = src[nameField];
  if (typeof name !== 'string' || name === '') causes.push(required(`${at}.${nameField}`));
  checkMode(src.defaultMode, `${at}.defaultMode`, causes);
  if (!Array.isArray(src.items)) return;
  src.items.forEach((item, j) => {
    const ip = `${at}.items[${j}]`;
    if (!isRec(item)) {
      causes.push(invalidMessage(ip, 'Invalid value: must be an object'));
      return;
    }
    for (const k of Object.keys(item)) {
      if (k !== 'key' && k !== 'path' && k !== 'mode')
        causes.push({ field: `${ip}.${k}`, reason: 'FieldValueNotSupported', message: 'unknown field' });
    }
    if (typeof item.key !== 'string' || item.key === '') causes.push(required(`${ip}.key`));
    checkPath(item.path, `${ip}.path`, causes);
    checkMode(item.mode, `${ip}.mode`, causes);
  });
}

function checkMode(mode: unknown, field: string, causes: StatusCause[]): void {
  if (mode !== undefined && (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777))
    causes.push(invalid(field, mode, 'must be a number between 0 and 0777 (octal), both inclusive'));
}
