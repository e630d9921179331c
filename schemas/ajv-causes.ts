/**
 * Ajv's errors as Kubernetes field errors: one cause per field, its path in Kubernetes' notation
 * (`spec.template.spec.containers[0].image`) and its message in the API server's words.
 */
import type { ErrorObject } from 'ajv';
import { joinPath, notSupported, required, show } from './causes';
import type { StatusCause } from './status';
import { isRec, type Rec } from './tree';

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

export function toCauses(errors: ErrorObject[], root: unknown): StatusCause[] {
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
      return required(joinPath(base, String(e.params.missingProperty)));
    case 'additionalProperties': {
      const field = joinPath(base, String(e.params.additionalProperty));
      return { field, reason: 'FieldValueInvalid', message: `unknown field ${JSON.stringify(field)}` };
    }
    case 'anyOf': {
      const branches = all.filter((b) => b.schemaPath.startsWith(e.schemaPath.replace(/\/anyOf$/, '/anyOf/')));
      const consts = branches.filter((b) => b.keyword === 'const').map((b) => b.params.allowedValue);
      if (consts.length > 0 && consts.length === branches.length) return notSupported(base, value, consts);
      const types = [...new Set(branches.filter((b) => b.keyword === 'type').map((b) => String(b.params.type)))];
      const bounds = branches.filter((b) => b.keyword === 'minimum' || b.keyword === 'maximum');
      const detail =
        types.length > 0
          ? `must be ${types.join(' or ')}`
          : bounds.length > 0
            ? `must be ${bounds.map((b) => `${b.params.comparison} ${b.params.limit}`).join(' and ')}`
            : 'does not match any allowed form';
      return { field: base, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` };
    }
    case 'enum':
      return notSupported(base, value, e.params.allowedValues as unknown[]);
    case 'const':
      return notSupported(base, value, [e.params.allowedValue]);
    case 'maxLength':
      return {
        field: base,
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${e.params.limit} bytes`,
      };
    case 'maxItems':
      return {
        field: base,
        reason: 'FieldValueTooMany',
        message: `Too many: ${Array.isArray(value) ? value.length : '?'}: must have at most ${e.params.limit} items`,
      };
    case 'minItems':
      return required(base, `must have at least ${e.params.limit} item(s)`);
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
