/**
 * Validation: every violation of an object, each with the path of the field at fault, the way the
 * Kubernetes API server reports them (`spec.template.spec.containers[0].image: Required value`).
 * Structural rules come from the JSON Schemas (compiled once per kind); the rules a schema cannot
 * say (name syntax per kind, selector must match template labels, unique names) are checked here.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { scheduleProblem } from './cron';
import { type KindInfo, kindInfo, kinds } from './kinds';
import { refusedPodFields } from './pod-refused';
import { isQuantity } from './quantity';
import type { StatusCause } from './status';

export const MAX_DEPTH = 64;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ANNOTATIONS_MAX_BYTES = 256 * 1024;
/** Kinds whose names must be DNS-1123 labels (they become DNS names or env var prefixes). */
const LABEL_NAMED = new Set(['Namespace', 'Service']);

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();

function validatorFor(info: KindInfo): ValidateFunction {
  let v = compiled.get(info.kind);
  if (!v) {
    v = ajv.compile(info.schema);
    compiled.set(info.kind, v);
  }
  return v;
}

/** Compiles every kind's validator now (servers call this at start so no request pays for it). */
export function precompile(): void {
  for (const k of kinds) validatorFor(k);
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every violation in `obj` (after defaults have been applied); empty when valid. */
export function validate(obj: unknown): StatusCause[] {
  if (!isRec(obj))
    return [{ field: '', reason: 'FieldValueInvalid', message: 'Invalid value: the object must be a JSON object' }];
  const structural = checkTree(obj);
  if (structural.length > 0) return structural;
  const kind = obj.kind;
  const info = typeof kind === 'string' ? kindInfo(kind) : undefined;
  if (!info) {
    return [
      typeof kind === 'string'
        ? { field: 'kind', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(kind)}` }
        : { field: 'kind', reason: 'FieldValueRequired', message: 'Required value' },
    ];
  }
  if (obj.apiVersion !== info.apiVersion) {
    return [
      {
        field: 'apiVersion',
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(obj.apiVersion)}: supported values: "${info.apiVersion}" for kind ${info.kind}`,
      },
    ];
  }
  const validator = validatorFor(info);
  const causes = validator(obj) ? [] : toCauses(validator.errors ?? [], obj);
  return [...causes, ...semantic(info, obj)];
}

/** Depth and prototype-pollution keys, checked before anything walks the object recursively. */
function checkTree(root: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  while (stack.length > 0 && causes.length < 20) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number };
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) {
      causes.push({
        field: path,
        reason: 'FieldValueInvalid',
        message: `Invalid value: nested deeper than ${MAX_DEPTH} levels`,
      });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 });
      });
      continue;
    }
    for (const key of Object.keys(value)) {
      const child = joinPath(path, key);
      if (FORBIDDEN_KEYS.has(key)) {
        causes.push({
          field: child,
          reason: 'FieldValueInvalid',
          message: `Invalid value: the key ${JSON.stringify(key)} is not allowed`,
        });
        continue;
      }
      stack.push({ value: (value as Rec)[key], path: child, depth: depth + 1 });
    }
  }
  return causes;
}

function joinPath(path: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${key}]`;
}

function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = /^\d+$/.test(seg) ? `${path}[${seg}]` : joinPath(path, seg);
  }
  return path;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = isRec(cur) || Array.isArray(cur) ? (cur as Rec)[seg] : undefined;
  }
  return cur;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function toCauses(errors: ErrorObject[], root: unknown): StatusCause[] {
  // A union (anyOf) reports each branch's failure too; keep one cause per union instead.
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  const inUnion = (e: ErrorObject) =>
    unions.some((u) => u !== e && e.schemaPath.startsWith(u.schemaPath.replace(/\/anyOf$/, '/anyOf/')));
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (inUnion(e)) continue;
    const cause = toCause(e, errors, root);
    const key = `${cause.field}\0${cause.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      causes.push(cause);
    }
  }
  return causes;
}

function toCause(e: ErrorObject, all: ErrorObject[], root: unknown): StatusCause {
  const base = pointerToPath(e.instancePath);
  const value = valueAt(root, e.instancePath);
  switch (e.keyword) {
    case 'required':
      return {
        field: joinPath(base, String(e.params.missingProperty)),
        reason: 'FieldValueRequired',
        message: 'Required value',
      };
    case 'additionalProperties': {
      const field = joinPath(base, String(e.params.additionalProperty));
      return { field, reason: 'FieldValueInvalid', message: `unknown field ${JSON.stringify(field)}` };
    }
    case 'anyOf': {
      const branches = all.filter((b) => b.schemaPath.startsWith(e.schemaPath.replace(/\/anyOf$/, '/anyOf/')));
      const consts = branches.filter((b) => b.keyword === 'const').map((b) => JSON.stringify(b.params.allowedValue));
      if (consts.length > 0 && consts.length === branches.length) {
        return {
          field: base,
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${show(value)}: supported values: ${consts.join(', ')}`,
        };
      }
      const types = [...new Set(branches.filter((b) => b.keyword === 'type').map((b) => String(b.params.type)))];
      const detail = types.length > 0 ? `must be ${types.join(' or ')}` : 'does not match any allowed form';
      return { field: base, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` };
    }
    case 'enum':
      return {
        field: base,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${show(value)}: supported values: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return {
        field: base,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${show(value)}: supported values: ${JSON.stringify(e.params.allowedValue)}`,
      };
    case 'maxLength':
      return {
        field: base,
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${e.params.limit} bytes`,
      };
    case 'minItems':
      return {
        field: base,
        reason: 'FieldValueRequired',
        message: `Required value: must have at least ${e.params.limit} item(s)`,
      };
    case 'type':
      return {
        field: base,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: must be ${e.params.type}`,
      };
    default:
      return {
        field: base,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${e.message ?? 'invalid'}`,
      };
  }
}

function semantic(info: KindInfo, obj: Rec): StatusCause[] {
  const causes: StatusCause[] = [];
  const meta = isRec(obj.metadata) ? obj.metadata : {};
  const invalid = (field: string, message: string) => causes.push({ field, reason: 'FieldValueInvalid', message });
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
    });
  } else if (
    LABEL_NAMED.has(info.kind) ? !DNS1123_LABEL.test(name) || name.length > 63 : !DNS1123_SUBDOMAIN.test(name)
  ) {
    invalid(
      'metadata.name',
      `Invalid value: ${show(name)}: a lowercase RFC 1123 ${LABEL_NAMED.has(info.kind) ? 'label (at most 63 characters)' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
  if (info.namespaced) {
    if (typeof meta.namespace !== 'string' || meta.namespace === '') {
      causes.push({ field: 'metadata.namespace', reason: 'FieldValueRequired', message: 'Required value' });
    } else if (!DNS1123_LABEL.test(meta.namespace)) {
      invalid('metadata.namespace', `Invalid value: ${show(meta.namespace)}: must be a lowercase RFC 1123 label`);
    }
  } else if (meta.namespace !== undefined && meta.namespace !== '') {
    invalid(
      'metadata.namespace',
      `Invalid value: ${show(meta.namespace)}: ${info.kind} is cluster-scoped and has no namespace`,
    );
  }
  checkLabels(meta.labels, 'metadata.labels', causes);
  if (isRec(meta.annotations)) {
    let size = 0;
    for (const [k, v] of Object.entries(meta.annotations)) {
      size += k.length + String(v).length;
      if (!validQualifiedName(k))
        invalid(`metadata.annotations[${k}]`, 'Invalid value: annotation key must be a qualified name');
    }
    if (size > ANNOTATIONS_MAX_BYTES)
      causes.push({
        field: 'metadata.annotations',
        reason: 'FieldValueTooLong',
        message: `Too long: must have at most ${ANNOTATIONS_MAX_BYTES} bytes`,
      });
  }
  const spec = isRec(obj.spec) ? obj.spec : undefined;
  if (info.kind === 'Pod' && spec) checkPodSpec(spec, 'spec', causes);
  if ((info.kind === 'Deployment' || info.kind === 'ReplicaSet') && spec) checkWorkload(spec, causes);
  if (info.kind === 'Job' && spec) checkJob(spec, causes);
  if (info.kind === 'CronJob' && spec) checkCronJob(spec, causes);
  if (info.kind === 'Service' && spec) checkService(spec, causes);
  if (info.kind === 'Secret' || info.kind === 'ConfigMap') {
    for (const field of ['data', 'stringData', 'binaryData']) checkConfigKeys(obj[field], field, causes);
  }
  return causes;
}

function validQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const [prefix, name] = slash === -1 ? ['', key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && LABEL_NAME.test(name);
}

function checkLabels(labels: unknown, path: string, causes: StatusCause[]): void {
  if (!isRec(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    if (!validQualifiedName(k)) {
      causes.push({
        field: `${path}[${k}]`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(k)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`,
      });
    }
    if (typeof v === 'string' && (v.length > 63 || !LABEL_VALUE.test(v))) {
      causes.push({
        field: `${path}[${k}]`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v)}: a valid label value must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.'`,
      });
    }
  }
}

function checkPodSpec(spec: Rec, path: string, causes: StatusCause[]): void {
  const names = new Set<string>();
  const volumes = new Set((Array.isArray(spec.volumes) ? spec.volumes : []).filter(isRec).map((v) => v.name));
  checkVolumes(spec.volumes, `${path}.volumes`, causes);
  for (const listName of ['initContainers', 'containers']) {
    const list = spec[listName];
    if (!Array.isArray(list)) continue;
    list.forEach((c, i) => {
      if (!isRec(c)) return;
      const at = `${path}.${listName}[${i}]`;
      if (typeof c.name === 'string') {
        if (names.has(c.name))
          causes.push({
            field: `${at}.name`,
            reason: 'FieldValueDuplicate',
            message: `Duplicate value: ${show(c.name)}`,
          });
        else if (!DNS1123_LABEL.test(c.name))
          causes.push({
            field: `${at}.name`,
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${show(c.name)}: must be a lowercase RFC 1123 label`,
          });
        names.add(c.name);
      }
      if (typeof c.image === 'string' && c.image.trim() === '')
        causes.push({ field: `${at}.image`, reason: 'FieldValueRequired', message: 'Required value' });
      const ports = Array.isArray(c.ports) ? c.ports.filter(isRec) : [];
      const portNames = new Set<unknown>();
      ports.forEach((p, j) => {
        if (p.name === undefined) return;
        if (portNames.has(p.name))
          causes.push({
            field: `${at}.ports[${j}].name`,
            reason: 'FieldValueDuplicate',
            message: `Duplicate value: ${show(p.name)}`,
          });
        portNames.add(p.name);
      });
      if (isRec(c.resources)) {
        for (const part of ['limits', 'requests']) {
          const list2 = c.resources[part];
          if (!isRec(list2)) continue;
          for (const [res, q] of Object.entries(list2)) {
            if (!isQuantity(q))
              causes.push({
                field: `${at}.resources.${part}[${res}]`,
                reason: 'FieldValueInvalid',
                message: `Invalid value: ${show(q)}: must be a quantity such as 100m, 1, 128Mi`,
              });
          }
        }
      }
      const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts.filter(isRec) : [];
      mounts.forEach((m, j) => {
        if (!volumes.has(m.name))
          causes.push({
            field: `${at}.volumeMounts[${j}].name`,
            reason: 'FieldValueNotFound',
            message: `Not found: ${show(m.name)}`,
          });
      });
    });
  }
  checkLabels(spec.nodeSelector, `${path}.nodeSelector`, causes);
  causes.push(...refusedPodFields(spec, path));
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
      causes.push({
        field: `${at}.name`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v.name)}: must be a lowercase RFC 1123 label`,
      });
    else if (seen.has(v.name))
      causes.push({ field: `${at}.name`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${show(v.name)}` });
    seen.add(v.name);
    for (const [source, nameField] of [
      ['configMap', 'name'],
      ['secret', 'secretName'],
    ] as const) {
      const src = v[source];
      if (!isRec(src)) continue;
      const name = src[nameField];
      if (typeof name !== 'string' || name === '')
        causes.push({ field: `${at}.${source}.${nameField}`, reason: 'FieldValueRequired', message: 'Required value' });
      checkMode(src.defaultMode, `${at}.${source}.defaultMode`, causes);
      if (!Array.isArray(src.items)) continue;
      src.items.forEach((item, j) => {
        const ip = `${at}.${source}.items[${j}]`;
        if (!isRec(item)) {
          causes.push({ field: ip, reason: 'FieldValueInvalid', message: 'Invalid value: must be an object' });
          return;
        }
        for (const k of Object.keys(item)) {
          if (k !== 'key' && k !== 'path' && k !== 'mode')
            causes.push({ field: `${ip}.${k}`, reason: 'FieldValueNotSupported', message: 'unknown field' });
        }
        if (typeof item.key !== 'string' || item.key === '')
          causes.push({ field: `${ip}.key`, reason: 'FieldValueRequired', message: 'Required value' });
        if (typeof item.path !== 'string' || item.path === '')
          causes.push({ field: `${ip}.path`, reason: 'FieldValueRequired', message: 'Required value' });
        else if (item.path.startsWith('/') || item.path.split('/').includes('..') || item.path.includes('\0'))
          causes.push({
            field: `${ip}.path`,
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${show(item.path)}: must be a relative path without '..'`,
          });
        checkMode(item.mode, `${ip}.mode`, causes);
      });
    }
  });
}

/** ConfigMap and Secret keys become env var names and file names: Kubernetes' IsConfigMapKey. */
export function isConfigKey(k: string): boolean {
  return k.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(k) && k !== '.' && !k.startsWith('..');
}

function checkConfigKeys(data: unknown, path: string, causes: StatusCause[]): void {
  if (!isRec(data)) return;
  for (const k of Object.keys(data)) {
    if (!isConfigKey(k))
      causes.push({
        field: `${path}[${k}]`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(k)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.', and must not be '.' or start with '..'`,
      });
  }
}

function checkMode(mode: unknown, field: string, causes: StatusCause[]): void {
  if (mode !== undefined && (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777))
    causes.push({
      field,
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${show(mode)}: must be a number between 0 and 0777 (octal), both inclusive`,
    });
}

function checkWorkload(spec: Rec, causes: StatusCause[]): void {
  const selector = isRec(spec.selector) ? spec.selector : undefined;
  const template = isRec(spec.template) ? spec.template : undefined;
  const tmplLabels = (
    isRec(template?.metadata) && isRec(template.metadata.labels) ? template.metadata.labels : {}
  ) as Rec;
  if (selector) {
    const match = isRec(selector.matchLabels) ? selector.matchLabels : {};
    const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
    if (Object.keys(match).length === 0 && exprs.length === 0) {
      causes.push({
        field: 'spec.selector',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: empty selector is invalid for deployment',
      });
    }
    for (const [k, v] of Object.entries(match)) {
      if (template && tmplLabels[k] !== v) {
        causes.push({
          field: 'spec.template.metadata.labels',
          reason: 'FieldValueInvalid',
          message: `Invalid value: selector does not match template labels (${k}=${String(v)})`,
        });
        break;
      }
    }
  }
  if (template && isRec(template.spec)) {
    checkPodSpec(template.spec, 'spec.template.spec', causes);
    const policy = template.spec.restartPolicy;
    if (policy !== undefined && policy !== 'Always') {
      causes.push({
        field: 'spec.template.spec.restartPolicy',
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${show(policy)}: supported values: "Always"`,
      });
    }
  }
}

function checkCronJob(spec: Rec, causes: StatusCause[]): void {
  if (typeof spec.schedule === 'string') {
    const problem = scheduleProblem(spec.schedule, typeof spec.timeZone === 'string' ? spec.timeZone : undefined);
    if (problem)
      causes.push({
        field: `spec.${problem.field}`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(problem.field === 'schedule' ? spec.schedule : spec.timeZone)}: ${problem.message}`,
      });
  }
  const template = isRec(spec.jobTemplate) && isRec(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
  if (template) checkJob(template, causes, 'spec.jobTemplate.spec');
}

function checkJob(spec: Rec, causes: StatusCause[], at = 'spec'): void {
  const template = isRec(spec.template) ? spec.template : undefined;
  if (!template || !isRec(template.spec)) return;
  checkPodSpec(template.spec, `${at}.template.spec`, causes);
  const policy = template.spec.restartPolicy;
  if (policy === undefined)
    causes.push({
      field: `${at}.template.spec.restartPolicy`,
      reason: 'FieldValueRequired',
      message: 'Required value: supported values: "OnFailure", "Never"',
    });
  else if (policy !== 'OnFailure' && policy !== 'Never')
    causes.push({
      field: `${at}.template.spec.restartPolicy`,
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${show(policy)}: supported values: "OnFailure", "Never"`,
    });
  const labels = (isRec(template.metadata) && isRec(template.metadata.labels) ? template.metadata.labels : {}) as Rec;
  const match = isRec(spec.selector) && isRec(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  for (const [k, v] of Object.entries(match)) {
    if (labels[k] !== v) {
      causes.push({
        field: `${at}.template.metadata.labels`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: selector does not match template labels (${k}=${String(v)})`,
      });
      break;
    }
  }
}

function checkService(spec: Rec, causes: StatusCause[]): void {
  const ports = Array.isArray(spec.ports) ? spec.ports.filter(isRec) : [];
  const names = new Set<unknown>();
  ports.forEach((p, i) => {
    if (ports.length > 1 && (p.name === undefined || p.name === '')) {
      causes.push({
        field: `spec.ports[${i}].name`,
        reason: 'FieldValueRequired',
        message: 'Required value: a name is required when a Service has more than one port',
      });
    }
    if (p.name !== undefined) {
      if (names.has(p.name))
        causes.push({
          field: `spec.ports[${i}].name`,
          reason: 'FieldValueDuplicate',
          message: `Duplicate value: ${show(p.name)}`,
        });
      names.add(p.name);
    }
    // Unlike Kubernetes, a ClusterIP Service has node ports too: ferry has no cluster IPs and
    // reaches every Service through its node port (functions/api/node-ports.ts).
  });
}
