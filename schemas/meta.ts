import { type Static, Type } from 'typebox';
import { Bool, Free, Int64, Obj, Opt, Str, StrMap, Time } from './dsl';
import type { ObjectMeta as StoredMeta } from './object';

export const OwnerReferenceSchema = Obj({
  apiVersion: Str(),
  kind: Str(),
  name: Str(),
  uid: Str(),
  controller: Opt(Bool()),
  blockOwnerDeletion: Opt(Bool()),
});

export const ObjectMetaSchema = Obj({
  name: Opt(Str({ maxLength: 253 })),
  generateName: Opt(Str({ maxLength: 253 })),
  namespace: Opt(Str({ maxLength: 63 })),
  uid: Opt(Str()),
  resourceVersion: Opt(Str()),
  generation: Opt(Int64()),
  creationTimestamp: Opt(Time()),
  deletionTimestamp: Opt(Time()),
  deletionGracePeriodSeconds: Opt(Int64({ minimum: 0 })),
  labels: Opt(StrMap()),
  annotations: Opt(StrMap()),
  ownerReferences: Opt(Type.Array(OwnerReferenceSchema)),
  finalizers: Opt(Type.Array(Str())),
  managedFields: Opt(Type.Array(Free())),
});

export const LabelSelectorSchema = Obj({
  matchLabels: Opt(StrMap()),
  matchExpressions: Opt(Type.Array(Obj({ key: Str(), operator: Str(), values: Opt(Type.Array(Str())) }))),
});

export const ConditionSchema = Obj({
  type: Str(),
  status: Str(),
  reason: Opt(Str()),
  message: Opt(Str()),
  lastTransitionTime: Opt(Time()),
  lastUpdateTime: Opt(Time()),
  lastHeartbeatTime: Opt(Time()),
  lastProbeTime: Opt(Type.Union([Time(), Type.Null()])),
  observedGeneration: Opt(Int64()),
});

export type ObjectMeta = Static<typeof ObjectMetaSchema> & { name: string };

/** A kind's static type with the stored-object metadata contract (name always present). */
export type Kind<T extends { metadata: unknown }> = Omit<T, 'metadata'> & { metadata: StoredMeta };
export type OwnerReference = Static<typeof OwnerReferenceSchema>;
export type LabelSelector = Static<typeof LabelSelectorSchema>;
export type Condition = Static<typeof ConditionSchema>;

/** The envelope every kind shares. */
export function envelope(apiVersion: string, kind: string) {
  return {
    apiVersion: Type.Literal(apiVersion),
    kind: Type.Literal(kind),
    metadata: ObjectMetaSchema,
  };
}
