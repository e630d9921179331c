/** ferry.dev/v1 NodePool and Cloud: which provider makes the machines that become nodes. */
import { type Static, Type } from 'typebox';
import { Enum, Free, Int, IntOrString, Obj, Opt, Str, StrMap } from './dsl';
import { ConditionSchema, envelope, type Kind } from './meta';
import { TaintSchema } from './node';

export const CloudSpecSchema = Obj({
  type: Enum(['aws', 'gcp', 'azure', 'local'] as const),
  region: Opt(Str()),
  project: Opt(Str()),
  subscriptionId: Opt(Str()),
  resourceGroup: Opt(Str()),
  credentialsSecretRef: Opt(Obj({ name: Str(), namespace: Str() })),
  /** Provider-specific settings (subnet, security groups, network ...). */
  options: Opt(Free()),
});

export const CloudSchema = Obj({
  ...envelope('ferry.dev/v1', 'Cloud'),
  spec: CloudSpecSchema,
  status: Opt(Obj({ conditions: Opt(Type.Array(ConditionSchema)) })),
});

export const NodePoolSpecSchema = Obj({
  cloud: Str({ description: 'name of a Cloud' }),
  instanceType: Str(),
  zones: Opt(Type.Array(Str())),
  image: Opt(Str()),
  minNodes: Opt(Int({ minimum: 0 })),
  maxNodes: Opt(Int({ minimum: 0 })),
  desiredNodes: Opt(Int({ minimum: 0 })),
  labels: Opt(StrMap()),
  taints: Opt(Type.Array(TaintSchema)),
  maxUnavailable: Opt(IntOrString()),
});

export const NodePoolSchema = Obj({
  ...envelope('ferry.dev/v1', 'NodePool'),
  spec: NodePoolSpecSchema,
  status: Opt(
    Obj({
      nodes: Opt(Int()),
      readyNodes: Opt(Int()),
      observedGeneration: Opt(Int()),
      conditions: Opt(Type.Array(ConditionSchema)),
    }),
  ),
});

export type Cloud = Kind<Static<typeof CloudSchema>>;
export type NodePool = Kind<Static<typeof NodePoolSchema>>;
