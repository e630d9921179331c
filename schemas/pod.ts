/**
 * v1 Pod: the PodSpec fields ferry runs as Kubernetes does. A field ferry cannot honour yet is
 * either absent (unknown fields are refused) or in REFUSED_POD_FIELDS below, refused with a 422
 * that names it: nothing is stored and ignored.
 */
import { type Static, Type } from 'typebox';
import { AffinitySchema, TopologySpreadConstraintSchema } from './affinity';
import {
  Bool,
  Enum,
  Free,
  Int,
  Int64,
  IntOrString,
  Obj,
  Opt,
  PortOrName,
  ResourceList,
  Str,
  StrMap,
  Time,
} from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema, ObjectMetaSchema } from './meta';
import { PREEMPTION_POLICIES } from './scheduling';
import { PodSecurityContextSchema, SecurityContextSchema } from './security-context';

export { PodSecurityContextSchema, SecurityContextSchema };

const KeyRef = Obj({ name: Opt(Str()), key: Str(), optional: Opt(Bool()) });

export const EnvVarSchema = Obj({
  name: Str(),
  value: Opt(Str()),
  valueFrom: Opt(
    Obj({
      secretKeyRef: Opt(KeyRef),
      configMapKeyRef: Opt(KeyRef),
      fieldRef: Opt(Obj({ fieldPath: Str(), apiVersion: Opt(Str()) })),
      resourceFieldRef: Opt(Obj({ resource: Str(), containerName: Opt(Str()), divisor: Opt(IntOrString()) })),
    }),
  ),
});

const EnvFromSchema = Obj({
  prefix: Opt(Str()),
  configMapRef: Opt(Obj({ name: Str(), optional: Opt(Bool()) })),
  secretRef: Opt(Obj({ name: Str(), optional: Opt(Bool()) })),
});

export const ContainerPortSchema = Obj({
  name: Opt(Str({ maxLength: 15 })),
  containerPort: Int({ minimum: 1, maximum: 65535 }),
  hostPort: Opt(Int({ minimum: 0, maximum: 65535 })),
  hostIP: Opt(Str()),
  protocol: Opt(Enum(['TCP', 'UDP', 'SCTP'] as const)),
});

const HandlerFields = {
  exec: Opt(Obj({ command: Opt(Type.Array(Str())) })),
  httpGet: Opt(
    Obj({
      path: Opt(Str()),
      port: PortOrName(),
      host: Opt(Str()),
      scheme: Opt(Enum(['HTTP', 'HTTPS'] as const)),
      httpHeaders: Opt(Type.Array(Obj({ name: Str(), value: Str() }))),
    }),
  ),
  tcpSocket: Opt(Obj({ port: PortOrName(), host: Opt(Str()) })),
};

export const ProbeSchema = Obj({
  ...HandlerFields,
  grpc: Opt(Obj({ port: Int({ minimum: 1, maximum: 65535 }), service: Opt(Str()) })),
  initialDelaySeconds: Opt(Int({ minimum: 0 })),
  periodSeconds: Opt(Int({ minimum: 1 })),
  timeoutSeconds: Opt(Int({ minimum: 1 })),
  successThreshold: Opt(Int({ minimum: 1 })),
  failureThreshold: Opt(Int({ minimum: 1 })),
  terminationGracePeriodSeconds: Opt(Int64({ minimum: 0 })),
});

export const ResourceRequirementsSchema = Obj({ limits: Opt(ResourceList()), requests: Opt(ResourceList()) });

const ContainerFields = {
  name: Str({ maxLength: 63 }),
  image: Str({ maxLength: 1024 }),
  imagePullPolicy: Opt(Enum(['Always', 'IfNotPresent', 'Never'] as const)),
  command: Opt(Type.Array(Str())),
  args: Opt(Type.Array(Str())),
  workingDir: Opt(Str()),
  env: Opt(Type.Array(EnvVarSchema)),
  envFrom: Opt(Type.Array(EnvFromSchema)),
  ports: Opt(Type.Array(ContainerPortSchema)),
  resources: Opt(ResourceRequirementsSchema),
  livenessProbe: Opt(ProbeSchema),
  readinessProbe: Opt(ProbeSchema),
  startupProbe: Opt(ProbeSchema),
  lifecycle: Opt(
    Obj({
      postStart: Opt(Obj(HandlerFields)),
      preStop: Opt(Obj({ ...HandlerFields, sleep: Opt(Obj({ seconds: Int() })) })),
    }),
  ),
  volumeMounts: Opt(
    Type.Array(
      Obj({
        name: Str(),
        mountPath: Str(),
        readOnly: Opt(Bool()),
        subPath: Opt(Str()),
        subPathExpr: Opt(Str()),
        mountPropagation: Opt(Str()),
        recursiveReadOnly: Opt(Str()),
      }),
    ),
  ),
  securityContext: Opt(SecurityContextSchema),
  terminationMessagePath: Opt(Str()),
  terminationMessagePolicy: Opt(Enum(['File', 'FallbackToLogsOnError'] as const)),
  stdin: Opt(Bool()),
  stdinOnce: Opt(Bool()),
  tty: Opt(Bool()),
  resizePolicy: Opt(Type.Array(Free())),
  volumeDevices: Opt(Type.Array(Free())),
};

export const ContainerSchema = Obj(ContainerFields);

/** An init container; `restartPolicy: Always` makes it a native sidecar (Kubernetes 1.29+). */
export const InitContainerSchema = Obj({ ...ContainerFields, restartPolicy: Opt(Enum(['Always'] as const)) });

export const TolerationSchema = Obj({
  key: Opt(Str()),
  operator: Opt(Enum(['Exists', 'Equal'] as const)),
  value: Opt(Str()),
  effect: Opt(Enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
  tolerationSeconds: Opt(Int64()),
});

const KeyToPathSchema = Obj({ key: Str(), path: Str(), mode: Opt(Int()) });
const DownwardAPIFileSchema = Obj({
  path: Str(),
  fieldRef: Opt(Obj({ fieldPath: Str(), apiVersion: Opt(Str()) })),
  resourceFieldRef: Opt(Obj({ resource: Str(), containerName: Opt(Str()), divisor: Opt(IntOrString()) })),
  mode: Opt(Int()),
});

/**
 * A pod's own ServiceAccount token as a file (agent/pods/service-account.ts): Kubernetes' bounds
 * on expirationSeconds (10 minutes to 2^32 s, default 1 h); ferry bounds the audience, which the
 * token record stores.
 */
export const ServiceAccountTokenProjectionSchema = Obj({
  audience: Opt(Str({ maxLength: 1024 })),
  expirationSeconds: Opt(Int64({ minimum: 600, maximum: 2 ** 32 })),
  path: Str({ maxLength: 4096 }),
});

export const VolumeSchema = Obj({
  name: Str({ maxLength: 63 }),
  emptyDir: Opt(Obj({ medium: Opt(Str()), sizeLimit: Opt(IntOrString()) })),
  hostPath: Opt(Obj({ path: Str(), type: Opt(Str()) })),
  configMap: Opt(
    Obj({ name: Opt(Str()), items: Opt(Type.Array(Free())), defaultMode: Opt(Int()), optional: Opt(Bool()) }),
  ),
  secret: Opt(
    Obj({ secretName: Opt(Str()), items: Opt(Type.Array(Free())), defaultMode: Opt(Int()), optional: Opt(Bool()) }),
  ),
  persistentVolumeClaim: Opt(Obj({ claimName: Str(), readOnly: Opt(Bool()) })),
  downwardAPI: Opt(Obj({ items: Opt(Type.Array(DownwardAPIFileSchema)), defaultMode: Opt(Int()) })),
  projected: Opt(
    Obj({
      defaultMode: Opt(Int()),
      sources: Opt(
        Type.Array(
          Obj({
            configMap: Opt(Obj({ name: Opt(Str()), items: Opt(Type.Array(KeyToPathSchema)), optional: Opt(Bool()) })),
            secret: Opt(Obj({ name: Opt(Str()), items: Opt(Type.Array(KeyToPathSchema)), optional: Opt(Bool()) })),
            downwardAPI: Opt(Obj({ items: Opt(Type.Array(DownwardAPIFileSchema)) })),
            serviceAccountToken: Opt(ServiceAccountTokenProjectionSchema),
            clusterTrustBundle: Opt(Free()),
            podCertificate: Opt(Free()),
          }),
        ),
      ),
    }),
  ),
  ephemeral: Opt(Free()),
  csi: Opt(Free()),
  nfs: Opt(Free()),
  iscsi: Opt(Free()),
  image: Opt(Free()),
});

export const PodSpecSchema = Obj({
  containers: Type.Array(ContainerSchema, { minItems: 1 }),
  initContainers: Opt(Type.Array(InitContainerSchema)),
  ephemeralContainers: Opt(Type.Array(Free())),
  volumes: Opt(Type.Array(VolumeSchema)),
  restartPolicy: Opt(Enum(['Always', 'OnFailure', 'Never'] as const)),
  terminationGracePeriodSeconds: Opt(Int64({ minimum: 0 })),
  activeDeadlineSeconds: Opt(Int64({ minimum: 1 })),
  dnsPolicy: Opt(Enum(['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'] as const)),
  nodeSelector: Opt(StrMap()),
  nodeName: Opt(Str()),
  serviceAccountName: Opt(Str()),
  serviceAccount: Opt(Str()),
  automountServiceAccountToken: Opt(Bool()),
  hostNetwork: Opt(Bool()),
  hostname: Opt(Str()),
  subdomain: Opt(Str()),
  affinity: Opt(AffinitySchema),
  tolerations: Opt(Type.Array(TolerationSchema)),
  topologySpreadConstraints: Opt(Type.Array(TopologySpreadConstraintSchema)),
  priority: Opt(Int()),
  priorityClassName: Opt(Str()),
  schedulerName: Opt(Str()),
  securityContext: Opt(PodSecurityContextSchema),
  imagePullSecrets: Opt(Type.Array(Obj({ name: Str() }))),
  enableServiceLinks: Opt(Bool()),
  hostAliases: Opt(
    Type.Array(Obj({ ip: Str({ maxLength: 45 }), hostnames: Opt(Type.Array(Str({ maxLength: 253 }))) })),
  ),
  shareProcessNamespace: Opt(Bool()),
  hostPID: Opt(Bool()),
  hostIPC: Opt(Bool()),
  dnsConfig: Opt(
    Obj({
      nameservers: Opt(Type.Array(Str({ maxLength: 45 }))),
      searches: Opt(Type.Array(Str())),
      options: Opt(Type.Array(Obj({ name: Opt(Str()), value: Opt(Str()) }))),
    }),
  ),
  runtimeClassName: Opt(Str()),
  overhead: Opt(ResourceList()),
  preemptionPolicy: Opt(Enum(PREEMPTION_POLICIES)),
  readinessGates: Opt(Type.Array(Free())),
  os: Opt(Obj({ name: Str() })),
  setHostnameAsFQDN: Opt(Bool()),
  resourceClaims: Opt(Type.Array(Free())),
  schedulingGates: Opt(Type.Array(Free())),
  hostUsers: Opt(Bool()),
  resources: Opt(ResourceRequirementsSchema),
});

const StateSchema = Obj({
  waiting: Opt(Obj({ reason: Opt(Str()), message: Opt(Str()) })),
  running: Opt(Obj({ startedAt: Opt(Time()) })),
  terminated: Opt(
    Obj({
      exitCode: Int(),
      signal: Opt(Int()),
      reason: Opt(Str()),
      message: Opt(Str()),
      startedAt: Opt(Time()),
      finishedAt: Opt(Time()),
      containerID: Opt(Str()),
    }),
  ),
});

export const ContainerStatusSchema = Obj({
  name: Str(),
  image: Str(),
  imageID: Opt(Str()),
  containerID: Opt(Str()),
  state: Opt(StateSchema),
  lastState: Opt(StateSchema),
  ready: Bool(),
  started: Opt(Bool()),
  restartCount: Int({ minimum: 0 }),
});

export const PodStatusSchema = Obj({
  phase: Opt(Enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const)),
  conditions: Opt(Type.Array(ConditionSchema)),
  message: Opt(Str()),
  reason: Opt(Str()),
  hostIP: Opt(Str()),
  podIP: Opt(Str()),
  podIPs: Opt(Type.Array(Obj({ ip: Str() }))),
  startTime: Opt(Time()),
  containerStatuses: Opt(Type.Array(ContainerStatusSchema)),
  initContainerStatuses: Opt(Type.Array(ContainerStatusSchema)),
  qosClass: Opt(Str()),
  /** The node a preempting pod made room on (functions/scheduler/preemption.ts). */
  nominatedNodeName: Opt(Str()),
  /** ferry extension: where each container port is published on the node (the Service proxy's targets). */
  portMappings: Opt(
    Type.Array(Obj({ containerName: Str(), name: Opt(Str()), containerPort: Int(), hostPort: Int(), protocol: Str() })),
  ),
});

export const PodTemplateSpecSchema = Obj({ metadata: Opt(ObjectMetaSchema), spec: PodSpecSchema });

export const PodSchema = Obj({ ...envelope('v1', 'Pod'), spec: PodSpecSchema, status: Opt(PodStatusSchema) });

export type Container = Static<typeof ContainerSchema>;
export type InitContainer = Static<typeof InitContainerSchema>;
export type SecurityContext = Static<typeof SecurityContextSchema>;
export type PodSecurityContext = Static<typeof PodSecurityContextSchema>;
export type ContainerPort = Static<typeof ContainerPortSchema>;
export type ContainerStatus = Static<typeof ContainerStatusSchema>;
export type EnvVar = Static<typeof EnvVarSchema>;
export type Probe = Static<typeof ProbeSchema>;
export type ResourceRequirements = Static<typeof ResourceRequirementsSchema>;
export type Toleration = Static<typeof TolerationSchema>;
export type Volume = Static<typeof VolumeSchema>;
export type PodSpec = Static<typeof PodSpecSchema>;
export type PodStatus = Static<typeof PodStatusSchema>;
export type PodTemplateSpec = Static<typeof PodTemplateSpecSchema>;
export type Pod = Kind<Static<typeof PodSchema>>;
export { LabelSelectorSchema };
