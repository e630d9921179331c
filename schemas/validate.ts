/**
 * Validation: every violation of an object, each with the path of the field at fault, the way the
 * Kubernetes API server reports them (`spec.template.spec.containers[0].image: Required value`).
 * First the shape every value must have (tree.ts: depth, forbidden keys, size), then the kind's
 * JSON Schema (Ajv's errors translated by ajv-causes.ts), then the rules a schema cannot say
 * (rules/: name syntax per kind, selector must match template labels, unique names, selector
 * operators, endpoint addresses).
 *
 * A kind's validator is compiled on its first use and kept for the life of the process: compiling
 * every kind up front cost each Lambda cold start about 300 ms and 3 MB of heap, mostly for kinds
 * that container never sees (`npm run bench -- coldstart` measures it), and the local server 17 MB
 * of resident code.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { toCauses } from './ajv-causes';
import { invalidMessage, joinPath, notSupported, required, tooLong } from './causes';
import { type KindInfo, kindInfo, kinds } from './kinds';
import { semantic } from './rules';
import { shareSubschemas } from './shared-subschemas';
import type { StatusCause } from './status';
import { isRec, MAX_DEPTH, MAX_OBJECT_BYTES, type TreeProblem, treeProblems } from './tree';

export { isConfigKey } from './rules/config';
export { MAX_DEPTH, MAX_OBJECT_BYTES } from './tree';

/**
 * The validators' Ajv options, exported for the test that pins what `optimize: false` changes.
 * inlineRefs: false keeps each shared subschema (shared-subschemas.ts) one function instead of a
 * copy per use. optimize: false skips Ajv's pass over the generated code: a kind's first use
 * compiles in about half the time (the Deployment, PodSpec included, is most of a cold create)
 * for some 14% more code and the same errors.
 */
export const AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  validateFormats: false,
  inlineRefs: false,
  code: { optimize: false },
} as const;
const ajv = new Ajv(AJV_OPTIONS);
const compiled = new Map<string, ValidateFunction>();

function validatorFor(info: KindInfo): ValidateFunction {
  let v = compiled.get(info.kind);
  if (!v) {
    v = ajv.compile(shareSubschemas(ajv, info.schema));
    compiled.set(info.kind, v);
  }
  return v;
}

/**
 * Compiles every kind's validator now. No runtime calls it (each kind compiles on its first use);
 * benchmarks that time requests, not compilation, do, and the cold-start bench's eager baseline.
 */
export function precompile(): void {
  for (const k of kinds) validatorFor(k);
}

/** The kinds whose validators this process has compiled so far, in the order they were. */
export function compiledKinds(): string[] {
  return [...compiled.keys()];
}

/** Every violation in `obj` (after defaults have been applied); empty when valid. */
export function validate(obj: unknown): StatusCause[] {
  if (!isRec(obj)) return [invalidMessage('', 'Invalid value: the object must be a JSON object')];
  const structural = treeProblems(obj).map(treeCause);
  if (structural.length > 0) return structural;
  const kind = obj.kind;
  const info = typeof kind === 'string' ? kindInfo(kind) : undefined;
  if (!info) {
    return [
      typeof kind === 'string'
        ? { field: 'kind', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(kind)}` }
        : required('kind'),
    ];
  }
  if (obj.apiVersion !== info.apiVersion) {
    const cause = notSupported('apiVersion', obj.apiVersion, [info.apiVersion]);
    return [{ ...cause, message: `${cause.message} for kind ${info.kind}` }];
  }
  const validator = validatorFor(info);
  const causes = validator(obj) ? [] : toCauses(validator.errors ?? [], obj);
  return [...causes, ...semantic(info, obj)];
}

function treeCause(p: TreeProblem): StatusCause {
  switch (p.type) {
    case 'depth':
      return invalidMessage(p.path, `Invalid value: nested deeper than ${MAX_DEPTH} levels`);
    case 'key':
      return invalidMessage(p.path, `Invalid value: the key ${JSON.stringify(p.key)} is not allowed`);
    case 'number':
      return invalidMessage(p.path, `Invalid value: ${p.value}: not a finite number`);
    case 'size':
      return tooLong('', `the object may not be more than ${MAX_OBJECT_BYTES} bytes as JSON`);
  }
}

/**
 * The fields of `obj` its kind's schema does not declare, each as the path of keys and list
 * indexes to it and in Kubernetes' notation (`spec.template.spec.foo`): what a request's
 * `fieldValidation` decides about (Strict refuses them, Warn and Ignore drop them). Fields inside
 * a union no branch of which matched are left to validation, which reports the union.
 */
export function unknownFields(obj: unknown): { path: string[]; field: string }[] {
  if (!isRec(obj) || typeof obj.kind !== 'string' || treeProblems(obj).length > 0) return [];
  const info = kindInfo(obj.kind);
  if (!info || obj.apiVersion !== info.apiVersion) return [];
  const validator = validatorFor(info);
  if (validator(obj)) return [];
  const errors = validator.errors ?? [];
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((u) => u.schemaPath.replace(/\/anyOf$/, '/anyOf/'));
  const out: { path: string[]; field: string }[] = [];
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties' || unions.some((u) => e.schemaPath.startsWith(u))) continue;
    const path = [...e.instancePath.split('/').slice(1), String(e.params.additionalProperty)].map((s) =>
      s.replace(/~1/g, '/').replace(/~0/g, '~'),
    );
    const field = path.reduce(
      (at, seg, i) => (/^\d+$/.test(seg) && i < path.length - 1 ? `${at}[${seg}]` : joinPath(at, seg)),
      '',
    );
    out.push({ path, field });
  }
  return out;
}
