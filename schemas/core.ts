/** v1 Namespace, Secret, ConfigMap and Event. */
import { type Static, Type } from 'typebox';
import { Bool, Enum, Int, Obj, Opt, Str, StrMap, Time } from './dsl';
import { ConditionSchema, envelope, type Kind } from './meta';

export const NamespaceSchema = Obj({
  ...envelope('v1', 'Namespace'),
  spec: Opt(Obj({ finalizers: Opt(Type.Array(Str())) })),
  status: Opt(
    Obj({ phase: Opt(Enum(['Active', 'Terminating'] as const)), conditions: Opt(Type.Array(ConditionSchema)) }),
  ),
});

export const SecretSchema = Obj({
  ...envelope('v1', 'Secret'),
  type: Opt(Str()),
  data: Opt(Type.Record(Type.String(), Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' }))),
  stringData: Opt(StrMap()),
  immutable: Opt(Bool()),
});

export const ConfigMapSchema = Obj({
  ...envelope('v1', 'ConfigMap'),
  data: Opt(StrMap()),
  binaryData: Opt(StrMap()),
  immutable: Opt(Bool()),
});

export const EventSchema = Obj({
  ...envelope('v1', 'Event'),
  involvedObject: Obj({
    apiVersion: Opt(Str()),
    kind: Opt(Str()),
    name: Opt(Str()),
    namespace: Opt(Str()),
    uid: Opt(Str()),
    resourceVersion: Opt(Str()),
    fieldPath: Opt(Str()),
  }),
  reason: Opt(Str()),
  message: Opt(Str()),
  type: Opt(Enum(['Normal', 'Warning'] as const)),
  count: Opt(Int()),
  firstTimestamp: Opt(Time()),
  lastTimestamp: Opt(Time()),
  eventTime: Opt(Type.Union([Time(), Type.Null()])),
  source: Opt(Obj({ component: Opt(Str()), host: Opt(Str()) })),
  reportingComponent: Opt(Str()),
  reportingInstance: Opt(Str()),
  action: Opt(Str()),
});

export type Namespace = Kind<Static<typeof NamespaceSchema>>;
export type Secret = Kind<Static<typeof SecretSchema>>;
export type ConfigMap = Kind<Static<typeof ConfigMapSchema>>;
export type Event = Kind<Static<typeof EventSchema>>;
