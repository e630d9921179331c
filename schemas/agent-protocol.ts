/**
 * The wire protocol between the node agent and the control plane (`/agent/v1/*`). Both sides import
 * these types; the server validates every request body against these schemas.
 *
 * The agent is a pull-diff-apply loop (like Nomad's client): it sends what changed since its last
 * call and the fingerprint of the pod set it holds; the server answers with the pods bound to the
 * node, holding the request open (bounded) while nothing changed, so a new pod starts at once.
 */
import { type Static, Type } from 'typebox';

const Str = (max = 253) => Type.String({ maxLength: max });
const Labels = Type.Record(Type.String({ maxLength: 316 }), Type.String({ maxLength: 63 }), { maxProperties: 64 });
/** Status objects are validated against the Node and Pod schemas by the server, not here. */
const Loose = Type.Record(Type.String(), Type.Unknown());

export const RegisterRequestSchema = Type.Object(
  {
    nodeName: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    }),
    labels: Type.Optional(Labels),
    /** NodeStatus: capacity, allocatable, addresses, nodeInfo. */
    status: Loose,
  },
  { additionalProperties: false },
);
export type RegisterRequest = Static<typeof RegisterRequestSchema>;

export interface RegisterResponse {
  nodeName: string;
  /** The node credential: can touch only this node, its lease and the pods bound to it. */
  token: string;
}

export const PodRefSchema = Type.Object(
  { namespace: Str(63), name: Str(), uid: Str(64) },
  { additionalProperties: false },
);
export type PodRef = Static<typeof PodRefSchema>;

export const SyncRequestSchema = Type.Object(
  {
    /** Full NodeStatus, sent only when it changed (or every few minutes); omitted it is a cheap heartbeat. */
    nodeStatus: Type.Optional(Loose),
    /** Pod statuses that changed since the last successful sync. */
    podStatuses: Type.Optional(
      Type.Array(Type.Object({ pod: PodRefSchema, status: Loose }, { additionalProperties: false }), {
        maxItems: 1000,
      }),
    ),
    /** Terminating pods whose containers are all stopped: the server removes their objects. */
    terminated: Type.Optional(Type.Array(PodRefSchema, { maxItems: 1000 })),
    /** Fingerprint of the pod set the agent last received; the server waits while it is unchanged. */
    podsVersion: Type.Optional(Str(128)),
    /** Fingerprint of the service routes the agent last received; likewise. */
    servicesVersion: Type.Optional(Str(128)),
    /** How long the server may hold the request when nothing changed (capped by the server). */
    waitSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })),
  },
  { additionalProperties: false },
);
export type SyncRequest = Static<typeof SyncRequestSchema>;

export interface SyncResponse {
  /** Every pod bound to this node, terminating ones included (the agent stops those). */
  pods: Record<string, unknown>[];
  podsVersion: string;
  /** Every Service with node ports and where its ready endpoints are: the agent's proxy table. */
  services: ServiceRoute[];
  servicesVersion: string;
  /** The agent sends a full node status at least this often. */
  nodeStatusUpdateSeconds: number;
  /**
   * The ConfigMaps and Secrets this node's pods reference (env, envFrom, volumes), and no others:
   * what a node may read of them, like Kubernetes' NodeRestriction. Their fingerprint is part of
   * `podsVersion`, so a pod waiting for a missing one starts when it is created.
   */
  configMaps?: ConfigSource[];
  secrets?: ConfigSource[];
  /** Log requests for this node's pods (`GET .../pods/{name}/log`), answered on `/agent/v1/logs`. */
  logRequests?: LogRequestRef[];
}

export interface LogRequestRef {
  /** The LogRequest object's namespace and name: what the answer names. */
  namespace: string;
  name: string;
  pod: PodRef;
  container: string;
  previous: boolean;
  tailLines: number;
  limitBytes: number;
}

export const LogAnswerSchema = Type.Object(
  {
    namespace: Str(63),
    name: Str(),
    /** The tail of the container's output (stdout and stderr interleaved), at most limitBytes. */
    content: Type.Optional(Type.String({ maxLength: 256 * 1024 })),
    /** Why there is no output (no such container, no previous instance ...). */
    error: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type LogAnswer = Static<typeof LogAnswerSchema>;

/** A ConfigMap's `data`/`binaryData`, or a Secret's `data` (base64, as stored). */
export interface ConfigSource {
  namespace: string;
  name: string;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** One Service as the node's proxy sees it (kube-proxy's view of a Service and its Endpoints). */
export interface ServiceRoute {
  namespace: string;
  name: string;
  ports: RoutePort[];
}

export interface RoutePort {
  name?: string;
  /** The Service's port (what `<NAME>_SERVICE_PORT` would be in Kubernetes). */
  port: number;
  /** Where every node listens for this port. */
  nodePort: number;
  protocol: string;
  /** Ready endpoints: a node address and the host port the pod's container port is published on. */
  endpoints: { ip: string; port: number }[];
}
