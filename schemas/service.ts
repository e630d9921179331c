/** v1 Service and Endpoints. */
import { type Static, Type } from 'typebox';
import { Enum, Free, Int, Obj, Opt, PortOrName, Str, StrMap } from './dsl';
import { ConditionSchema, envelope, type Kind } from './meta';

/**
 * Ports per Service. Kubernetes sets no number (only etcd's object size, ~1.5 MiB, bounds it), but
 * in ferry every port of every Service takes a node port from one shared range (2,768 by default):
 * without a cap one tenant's Service could take them all and every later Service would get 503.
 * 100 is far above what real Services declare (a handful) and keeps one Service to ~4% of the range.
 */
export const MAX_SERVICE_PORTS = 100;

export const ServicePortSchema = Obj({
  name: Opt(Str({ maxLength: 63 })),
  protocol: Opt(Enum(['TCP', 'UDP', 'SCTP'] as const)),
  appProtocol: Opt(Str()),
  port: Int({ minimum: 1, maximum: 65535 }),
  targetPort: Opt(PortOrName()),
  nodePort: Opt(Int({ minimum: 0, maximum: 65535 })),
});

export const ServiceSpecSchema = Obj({
  type: Opt(Enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const)),
  selector: Opt(StrMap()),
  ports: Opt(Type.Array(ServicePortSchema, { maxItems: MAX_SERVICE_PORTS })),
  clusterIP: Opt(Str()),
  clusterIPs: Opt(Type.Array(Str())),
  externalName: Opt(Str()),
  externalIPs: Opt(Type.Array(Str())),
  sessionAffinity: Opt(Enum(['None', 'ClientIP'] as const)),
  sessionAffinityConfig: Opt(Free()),
  externalTrafficPolicy: Opt(Enum(['Cluster', 'Local'] as const)),
  internalTrafficPolicy: Opt(Enum(['Cluster', 'Local'] as const)),
  loadBalancerIP: Opt(Str()),
  loadBalancerSourceRanges: Opt(Type.Array(Str())),
  publishNotReadyAddresses: Opt(Type.Boolean()),
  ipFamilies: Opt(Type.Array(Str())),
  ipFamilyPolicy: Opt(Str()),
});

export const ServiceStatusSchema = Obj({
  loadBalancer: Opt(
    Obj({ ingress: Opt(Type.Array(Obj({ ip: Opt(Str()), hostname: Opt(Str()), ports: Opt(Type.Array(Free())) }))) }),
  ),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const ServiceSchema = Obj({
  ...envelope('v1', 'Service'),
  spec: ServiceSpecSchema,
  status: Opt(ServiceStatusSchema),
});

const EndpointAddressSchema = Obj({
  ip: Str(),
  hostname: Opt(Str()),
  nodeName: Opt(Str()),
  targetRef: Opt(
    Obj({
      kind: Opt(Str()),
      namespace: Opt(Str()),
      name: Opt(Str()),
      uid: Opt(Str()),
      apiVersion: Opt(Str()),
      resourceVersion: Opt(Str()),
    }),
  ),
});

export const EndpointSubsetSchema = Obj({
  addresses: Opt(Type.Array(EndpointAddressSchema)),
  notReadyAddresses: Opt(Type.Array(EndpointAddressSchema)),
  ports: Opt(
    Type.Array(
      Obj({
        name: Opt(Str()),
        port: Int({ minimum: 1, maximum: 65535 }),
        protocol: Opt(Str()),
        appProtocol: Opt(Str()),
      }),
    ),
  ),
});

export const EndpointsSchema = Obj({ ...envelope('v1', 'Endpoints'), subsets: Opt(Type.Array(EndpointSubsetSchema)) });

export type ServicePort = Static<typeof ServicePortSchema>;
export type ServiceSpec = Static<typeof ServiceSpecSchema>;
export type Service = Kind<Static<typeof ServiceSchema>>;
export type EndpointSubset = Static<typeof EndpointSubsetSchema>;
export type Endpoints = Kind<Static<typeof EndpointsSchema>>;
