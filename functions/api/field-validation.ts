/**
 * The `fieldValidation` query parameter of create, update and patch (Kubernetes 1.27+, what
 * kubectl sends once the OpenAPI says the server takes it): what happens to fields the kind's
 * schema does not declare.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
 *
 * - `Strict`: the request fails with 400, naming every such field, in the API server's words
 *   (`Deployment in version "v1" cannot be handled as a Deployment: strict decoding error:
 *   unknown field "spec.replica"`).
 * - `Warn`: the fields are dropped (never stored) and each is named in a `Warning` header.
 * - `Ignore`: the fields are dropped silently.
 * - absent: ferry refuses them as validation errors (422, every field with its path) where the API
 *   server would warn and drop them: a typo in a manifest applied from CI should stop the deploy.
 *
 * Duplicate keys are refused (400) by the body parser whatever the directive (the API server
 * keeps the last one under Warn and Ignore).
 */
import { unknownFields } from '../../schemas';
import { BadRequestError, InvalidError } from '../errors';
import type { Obj } from '../store/types';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
const DIRECTIVES: readonly string[] = ['Strict', 'Warn', 'Ignore'];

/** The request's directive; an unknown value is a 422 on the options, as the API server answers. */
export function fieldValidationOf(
  query: URLSearchParams,
  options: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions',
): FieldValidation | undefined {
  const values = query.getAll('fieldValidation');
  if (values.length === 0) return undefined;
  const [value] = values;
  if (values.length > 1 || !DIRECTIVES.includes(value as string)) {
    throw new InvalidError(options, '', [
      {
        field: 'fieldValidation',
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(String(values.join(',')).slice(0, 64))}: supported values: "Ignore", "Strict", "Warn"`,
      },
    ]);
  }
  return value as FieldValidation;
}

/**
 * Applies the directive to `obj` (the object as the request would store it) in place: throws
 * under Strict, drops the fields under Warn (pushing one warning each) and Ignore, and leaves
 * them for validation to refuse when there is no directive.
 */
export function applyFieldValidation(obj: Obj, directive: FieldValidation | undefined, warnings: string[]): void {
  if (directive === undefined) return;
  const unknown = unknownFields(obj);
  if (unknown.length === 0) return;
  if (directive === 'Strict') {
    const version = obj.apiVersion.split('/').pop();
    const list = unknown.map((u) => `unknown field ${JSON.stringify(u.field)}`).join(', ');
    throw new BadRequestError(
      `${obj.kind} in version ${JSON.stringify(version)} cannot be handled as a ${obj.kind}: strict decoding error: ${list}`,
      {
        kind: obj.kind,
        name: obj.metadata.name,
        causes: unknown.map((u) => ({ reason: 'FieldValueInvalid', field: u.field, message: 'unknown field' })),
      },
    );
  }
  for (const u of unknown) {
    remove(obj, u.path);
    if (directive === 'Warn') warnings.push(`unknown field ${JSON.stringify(u.field)}`);
  }
}

function remove(root: unknown, path: string[]): void {
  let cur = root as Record<string, unknown>;
  for (const seg of path.slice(0, -1)) {
    const next = cur?.[seg];
    if (typeof next !== 'object' || next === null) return;
    cur = next as Record<string, unknown>;
  }
  if (cur && typeof cur === 'object') delete cur[path[path.length - 1] as string];
}
