/**
 * Cause builders: one function per Kubernetes field-error type (k8s.io/apimachinery's
 * `field.Required`, `field.Invalid`, `field.NotSupported`, ...), so every rule reports a field
 * error with the same reason and the same message shape as the Kubernetes API server.
 * https://github.com/kubernetes/apimachinery/blob/master/pkg/util/validation/field/errors.go
 */
import type { StatusCause } from './status';

/** A value as it appears in a message: JSON, cut at 80 characters (echoed input stays short). */
export function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `spec.ports` + `name` -> `spec.ports.name`; keys that are not identifiers go in brackets. */
export function joinPath(path: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${key}]`;
}

/** `Required value`, or `Required value: <detail>`. */
export function required(field: string, detail?: string): StatusCause {
  return { field, reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value' };
}

/** `Invalid value: <value>: <detail>`. */
export function invalid(field: string, value: unknown, detail: string): StatusCause {
  return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` };
}

/** A FieldValueInvalid whose message is given whole (no value to echo). */
export function invalidMessage(field: string, message: string): StatusCause {
  return { field, reason: 'FieldValueInvalid', message };
}

/** `Unsupported value: <value>: supported values: "a", "b"`. */
export function notSupported(field: string, value: unknown, supported: readonly unknown[]): StatusCause {
  return {
    field,
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  };
}

/** `Duplicate value: <value>`. */
export function duplicate(field: string, value: unknown): StatusCause {
  return { field, reason: 'FieldValueDuplicate', message: `Duplicate value: ${show(value)}` };
}

/** `Not found: <value>`. */
export function notFound(field: string, value: unknown): StatusCause {
  return { field, reason: 'FieldValueNotFound', message: `Not found: ${show(value)}` };
}

/** `Too long: <detail>`. */
export function tooLong(field: string, detail: string): StatusCause {
  return { field, reason: 'FieldValueTooLong', message: `Too long: ${detail}` };
}

/** `Too many: <n>: must have at most <max> items`. */
export function tooMany(field: string, actual: number, max: number): StatusCause {
  return { field, reason: 'FieldValueTooMany', message: `Too many: ${actual}: must have at most ${max} items` };
}

/** `Forbidden: <detail>`. */
export function forbidden(field: string, detail: string): StatusCause {
  return { field, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` };
}
