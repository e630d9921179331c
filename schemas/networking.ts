/**
 * networking.k8s.io/v1 Ingress, IngressClass and NetworkPolicy, with Kubernetes' field names
 * (k8s.io/api/networking/v1/types.go). Ingress is served by ferry's built-in ingress
 * (agent/ingress/); NetworkPolicy is stored but not enforced (the API says so in a Warning).
 */
import { type Static, Type } from 'typebox';
import { Enum, Int, Obj, Opt, Str } from './dsl';
import { envelope, type Kind, LabelSelectorSchema } from './meta';

/** The built-in IngressClass: the one controller ferry runs. */
export const FERRY_INGRESS_CLASS = 'ferry';
export const FERRY_INGRESS_CONTROLLER = 'ferry.dev/ingress';
/** Kubernetes' annotation marking the class an Ingress without `ingressClassName` gets. */
export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

export const PATH_TYPES = ['Exact', 'Prefix', 'ImplementationSpecific'] as const;

const ServiceBackendPortSchema = Obj({
  name: Opt(Str({ maxLength: 15 })),
  number: Opt(Int({ minimum: 0, maximum: 65535 })),
});

export const IngressBackendSchema = Obj({
  service: Opt(Obj({ name: Str({ maxLength: 253 }), port: Opt(ServiceBackendPortSchema) })),
  resource: Opt(Obj({ apiGroup: Opt(Str()), kind: Str(), name: Str() })),
});

const HttpPathSchema = Obj({
  path: Opt(Str({ maxLength: 4096 })),
  pathType: Opt(Enum(PATH_TYPES)),
  backend: IngressBackendSchema,
});

export const IngressRuleSchema = Obj({
  host: Opt(Str({ maxLength: 253 })),
  http: Opt(Obj({ paths: Type.Array(HttpPathSchema, { maxItems: 1000 }) })),
});

export const IngressTlsSchema = Obj({
  hosts: Opt(Type.Array(Str({ maxLength: 253 }), { maxItems: 1000 })),
  secretName: Opt(Str({ maxLength: 253 })),
});

const PortStatusSchema = Obj({ port: Int(), protocol: Str(), error: Opt(Str({ maxLength: 316 })) });

export const IngressSchema = Obj({
  ...envelope('networking.k8s.io/v1', 'Ingress'),
  spec: Opt(
    Obj({
      ingressClassName: Opt(Str({ maxLength: 253 })),
      defaultBackend: Opt(IngressBackendSchema),
      tls: Opt(Type.Array(IngressTlsSchema, { maxItems: 1000 })),
      rules: Opt(Type.Array(IngressRuleSchema, { maxItems: 1000 })),
    }),
  ),
  status: Opt(
    Obj({
      loadBalancer: Opt(
        Obj({
          ingress: Opt(
            Type.Array(Obj({ ip: Opt(Str()), hostname: Opt(Str()), ports: Opt(Type.Array(PortStatusSchema)) })),
          ),
        }),
      ),
    }),
  ),
});

export const IngressClassSchema = Obj({
  ...envelope('networking.k8s.io/v1', 'IngressClass'),
  spec: Opt(
    Obj({
      controller: Opt(Str({ maxLength: 250 })),
      parameters: Opt(
        Obj({
          apiGroup: Opt(Str()),
          kind: Str(),
          name: Str(),
          scope: Opt(Enum(['Cluster', 'Namespace'] as const)),
          namespace: Opt(Str({ maxLength: 63 })),
        }),
      ),
    }),
  ),
});

const NetworkPolicyPortSchema = Obj({
  protocol: Opt(Enum(['TCP', 'UDP', 'SCTP'] as const)),
  port: Opt(Type.Union([Int({ minimum: 1, maximum: 65535 }), Type.String({ maxLength: 15 })])),
  endPort: Opt(Int({ minimum: 1, maximum: 65535 })),
});

const NetworkPolicyPeerSchema = Obj({
  podSelector: Opt(LabelSelectorSchema),
  namespaceSelector: Opt(LabelSelectorSchema),
  ipBlock: Opt(Obj({ cidr: Str({ maxLength: 64 }), except: Opt(Type.Array(Str({ maxLength: 64 }))) })),
});

export const NetworkPolicySchema = Obj({
  ...envelope('networking.k8s.io/v1', 'NetworkPolicy'),
  spec: Opt(
    Obj({
      podSelector: Opt(LabelSelectorSchema),
      policyTypes: Opt(Type.Array(Enum(['Ingress', 'Egress'] as const), { maxItems: 2 })),
      ingress: Opt(
        Type.Array(
          Obj({
            from: Opt(Type.Array(NetworkPolicyPeerSchema)),
            ports: Opt(Type.Array(NetworkPolicyPortSchema)),
          }),
        ),
      ),
      egress: Opt(
        Type.Array(
          Obj({
            to: Opt(Type.Array(NetworkPolicyPeerSchema)),
            ports: Opt(Type.Array(NetworkPolicyPortSchema)),
          }),
        ),
      ),
    }),
  ),
});

export type IngressBackend = Static<typeof IngressBackendSchema>;
export type IngressRule = Static<typeof IngressRuleSchema>;
export type IngressTls = Static<typeof IngressTlsSchema>;
export type Ingress = Kind<Static<typeof IngressSchema>>;
export type IngressClass = Kind<Static<typeof IngressClassSchema>>;
export type NetworkPolicy = Kind<Static<typeof NetworkPolicySchema>>;
