/** ferry.dev/v1 NodePool and Cloud: which provider makes the machines that become nodes. */
import { type Static, Type } from 'typebox';
import { Bool, Enum, Free, Int, IntOrString, Obj, Opt, Str, StrMap, Time } from './dsl';
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

/**
 * The cluster autoscaler's settings for one pool (as kubernetes/autoscaler's cluster-autoscaler
 * flags, per pool). While `enabled`, the autoscaler owns the node count between `minNodes` and
 * `maxNodes` (both then required) and `desiredNodes` is refused: its count is in
 * `status.autoscaling.desiredNodes`, in status so an autoscaler decision is not a spec change
 * (a new generation would reset the churn guard).
 */
export const NodePoolAutoscalingSchema = Obj({
  enabled: Bool(),
  /** A node must be unneeded this long before it is retired (default 600: cluster-autoscaler's 10 min). */
  scaleDownUnneededSeconds: Opt(Int({ minimum: 0, maximum: 7 * 86_400 })),
  /** A node whose requested cpu and memory are both under this share of its allocatable may be unneeded (default 0.5). */
  scaleDownUtilizationThreshold: Opt(Type.Number({ minimum: 0, maximum: 1 })),
  /** No node of the pool is retired this long after it last grew (default 600). */
  scaleDownDelayAfterAddSeconds: Opt(Int({ minimum: 0, maximum: 7 * 86_400 })),
  /** No node of the pool is retired this long after the autoscaler last retired one (default 10: cluster-autoscaler's scan interval). */
  scaleDownDelayAfterDeleteSeconds: Opt(Int({ minimum: 0, maximum: 7 * 86_400 })),
  /** The priority expander: a pool of higher priority is grown first; least waste decides among equals (default 0). */
  priority: Opt(Int()),
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
  /**
   * Machines the pool may have beyond `desiredNodes` while it replaces or moves nodes (default 1):
   * never more than `desiredNodes + maxSurge` machines exist at once, in every Cloud together.
   */
  maxSurge: Opt(Int({ minimum: 0, maximum: 100 })),
  autoscaling: Opt(NodePoolAutoscalingSchema),
});

/** A machine the pool launched recently (kept until it is registered and settled, or gone). */
export const LaunchSchema = Obj({
  name: Str(),
  cloud: Str(),
  /** The pool's generation when it was launched: retiring it at that same generation is churn. */
  generation: Int({ minimum: 0 }),
  launchedAt: Time(),
  /** Where it was made (the autoscaler counts it as coming there until it registers). */
  zone: Opt(Str()),
});

/**
 * The churn guard's memory: machines lost soon after their creation (retired within minutes, or
 * never registered) are strikes; each strike backs creation off exponentially, and `degraded`
 * stops it until the spec changes or the user clears it.
 */
export const ChurnSchema = Obj({
  strikes: Int({ minimum: 0 }),
  /** The generation the strikes were counted for: a changed spec starts over. */
  generation: Int({ minimum: 0 }),
  reason: Opt(Str()),
  message: Opt(Str()),
  /** No machine is created before this time. */
  backoffUntil: Opt(Time()),
  degraded: Opt(Bool()),
});

/** A node the autoscaler found unneeded, and since when (kept in status so the timer survives restarts). */
export const UnneededSchema = Obj({ node: Str(), since: Time() });

/** What the autoscaler decided for the pool (its conditions ScaleUp and ScaleDown say why). */
export const AutoscalingStatusSchema = Obj({
  /** The node count the autoscaler wants, within minNodes..maxNodes: what the pool keeps. */
  desiredNodes: Int({ minimum: 0 }),
  lastScaleUpTime: Opt(Time()),
  lastScaleDownTime: Opt(Time()),
  unneeded: Opt(Type.Array(UnneededSchema)),
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
      /** Launches in flight: written before the cloud is called, so concurrent passes never both create. */
      launches: Opt(Type.Array(LaunchSchema)),
      /** Clouds the pool has machines in (besides `spec.cloud`), so a move finds unregistered ones too. */
      clouds: Opt(Type.Array(Str())),
      churn: Opt(ChurnSchema),
      autoscaling: Opt(AutoscalingStatusSchema),
    }),
  ),
});

export type Cloud = Kind<Static<typeof CloudSchema>>;
export type NodePool = Kind<Static<typeof NodePoolSchema>>;
export type NodePoolLaunch = Static<typeof LaunchSchema>;
export type NodePoolChurn = Static<typeof ChurnSchema>;
export type NodePoolAutoscaling = Static<typeof NodePoolAutoscalingSchema>;
export type NodePoolAutoscalingStatus = Static<typeof AutoscalingStatusSchema>;
