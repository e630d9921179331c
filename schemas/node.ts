/** v1 Node and coordination.k8s.io/v1 Lease (the node heartbeat). */
import { type Static, Type } from 'typebox';
import { Bool, Enum, Free, Int, Obj, Opt, ResourceList, Str, Time } from './dsl';
import { ConditionSchema, envelope, type Kind } from './meta';

export const TaintSchema = Obj({
  key: Str(),
  value: Opt(Str()),
  effect: Enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const),
  timeAdded: Opt(Time()),
});

export const NodeSpecSchema = Obj({
  unschedulable: Opt(Bool()),
  taints: Opt(Type.Array(TaintSchema)),
  providerID: Opt(Str()),
  podCIDR: Opt(Str()),
  podCIDRs: Opt(Type.Array(Str())),
});

export const NodeStatusSchema = Obj({
  capacity: Opt(ResourceList()),
  allocatable: Opt(ResourceList()),
  conditions: Opt(Type.Array(ConditionSchema)),
  addresses: Opt(Type.Array(Obj({ type: Str(), address: Str() }))),
  nodeInfo: Opt(
    Obj({
      kubeletVersion: Opt(Str()),
      containerRuntimeVersion: Opt(Str()),
      operatingSystem: Opt(Str()),
      architecture: Opt(Str()),
      kernelVersion: Opt(Str()),
      osImage: Opt(Str()),
      machineID: Opt(Str()),
      systemUUID: Opt(Str()),
      bootID: Opt(Str()),
      kubeProxyVersion: Opt(Str()),
    }),
  ),
  daemonEndpoints: Opt(Free()),
  images: Opt(Type.Array(Free())),
});

export const NodeSchema = Obj({ ...envelope('v1', 'Node'), spec: Opt(NodeSpecSchema), status: Opt(NodeStatusSchema) });

export const LeaseSchema = Obj({
  ...envelope('coordination.k8s.io/v1', 'Lease'),
  spec: Opt(
    Obj({
      holderIdentity: Opt(Str()),
      leaseDurationSeconds: Opt(Int({ minimum: 1 })),
      acquireTime: Opt(Str()),
      renewTime: Opt(Str()),
      leaseTransitions: Opt(Int()),
    }),
  ),
});

export type Taint = Static<typeof TaintSchema>;
export type NodeSpec = Static<typeof NodeSpecSchema>;
export type NodeStatus = Static<typeof NodeStatusSchema>;
export type Node = Kind<Static<typeof NodeSchema>>;
export type Lease = Kind<Static<typeof LeaseSchema>>;
