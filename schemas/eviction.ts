/**
 * The Eviction a client POSTs to `pods/NAME/eviction` (policy/v1, and policy/v1beta1 of the same
 * shape, as kubectl drain sends either): never stored, so it is not a kind; its schema validates
 * the request body, compiled on the first eviction (not at import: most processes never see one).
 * https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/eviction-v1/
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { type Static, Type } from 'typebox';
import { toCauses } from './ajv-causes';
import { Bool, Enum, Int64, Obj, Opt, Str } from './dsl';
import { ObjectMetaSchema } from './meta';
import type { StatusCause } from './status';
import { isRec, treeProblems } from './tree';

export const EvictionSchema = Obj({
  apiVersion: Opt(Enum(['policy/v1', 'policy/v1beta1'] as const)),
  kind: Opt(Type.Literal('Eviction')),
  metadata: ObjectMetaSchema,
  deleteOptions: Opt(
    Obj({
      apiVersion: Opt(Str()),
      kind: Opt(Type.Literal('DeleteOptions')),
      gracePeriodSeconds: Opt(Int64({ minimum: 0 })),
      preconditions: Opt(Obj({ uid: Opt(Str()), resourceVersion: Opt(Str()) })),
      propagationPolicy: Opt(Enum(['Orphan', 'Background', 'Foreground'] as const)),
      orphanDependents: Opt(Bool()),
      dryRun: Opt(Type.Array(Enum(['All'] as const))),
    }),
  ),
});

export type Eviction = Static<typeof EvictionSchema>;

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(EvictionSchema);
  return compiled;
}

/** Every violation in an Eviction body, with its field path; empty when valid. */
export function evictionProblems(body: unknown): StatusCause[] {
  if (!isRec(body))
    return [{ field: '', reason: 'FieldValueInvalid', message: 'Invalid value: the Eviction must be a JSON object' }];
  if (treeProblems(body).length > 0)
    return [
      {
        field: '',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: the Eviction is too deep, too large or has a forbidden key',
      },
    ];
  const validate = validator();
  return validate(body) ? [] : toCauses(validate.errors ?? [], body);
}
