/**
 * The wire protocol between the node agent and the control plane (`/agent/v1/*`). Both sides import
 * these types; the server validates every request body against these schemas.
 *
 * The agent is a pull-diff-apply loop (like Nomad's client): it sends what changed since its last
 * call and the versions of what it holds (`versions`: one per section, pods, config, log requests
 * and service routes); the server answers with only the sections that moved, and an answer with
 * none of them means "nothing changed" (one small read on the server: the node's NodeDesired
 * record). The pods section is itself a diff with agents that name the pods they hold by version
 * (`heldPods`, `podsDiff`); the routes section is one by index sequence. Where waiting is free (the local runtime) the server holds a quiet call open until
 * something changes; where it is billed (Lambda) it answers at once and says when to call again.
 */
import { type Static, Type } from 'typebox';
import type { SyncBeatsOffer } from './agent-beats';
import type { IngressTable, ServiceRoute } from './agent-routes';

export type {
  IngressCert,
  IngressDefault,
  IngressPathRule,
  IngressServiceRef,
  IngressTable,
  RouteEndpoint,
  RoutePod,
  RoutePort,
  ServiceRoute,
} from './agent-routes';

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
    /**
     * A random secret the agent picks once and sends on every try until it holds a credential: a
     * try whose answer was lost (a timeout, a cut connection, a server too busy to answer in
     * time) after the Node was written is the same registration, and gets the credential instead
     * of a refusal (functions/api/register.ts).
     */
    registrationId: Type.Optional(Type.String({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
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

/**
 * A node's resource usage (agent/metrics/): CPU as a rate over the window between two samples,
 * memory as working set (usage - inactive_file), as the kubelet reports them. Sent on syncs only
 * while the server asks for it (`SyncResponse.usage`): a node no HPA or `kubectl top` looks at
 * sends none. `ageMs` instead of a time: the server dates it by its own clock.
 */
const Usage = { cpuNanoCores: Type.Number({ minimum: 0 }), memoryBytes: Type.Number({ minimum: 0 }) };
export const UsageReportSchema = Type.Object(
  {
    /** How long before the request the later sample was taken. */
    ageMs: Type.Number({ minimum: 0, maximum: 600_000 }),
    /** The time between the two samples the CPU rate is taken over. */
    windowMs: Type.Number({ minimum: 1, maximum: 600_000 }),
    node: Type.Object(Usage, { additionalProperties: false }),
    pods: Type.Array(
      Type.Object(
        {
          pod: PodRefSchema,
          containers: Type.Array(Type.Object({ name: Str(63), ...Usage }, { additionalProperties: false }), {
            maxItems: 64,
          }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);
export type UsageReport = Static<typeof UsageReportSchema>;

/** `SyncResponse.usage`: the server wants the node's usage on its syncs, at least this often. */
export interface UsageWanted {
  everySeconds: number;
}

/** The most pod versions a sync may name (`heldPods`); an agent holding more is sent its pods whole. */
export const MAX_HELD_PODS = 1000;

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
    /** The version of each section the agent holds; a section left out (a restarted agent) is sent whole. */
    versions: Type.Optional(
      Type.Object(
        {
          pods: Type.Optional(Str(64)),
          config: Type.Optional(Str(64)),
          logs: Type.Optional(Str(64)),
          routes: Type.Optional(Str(64)),
          ingress: Type.Optional(Str(64)),
        },
        { additionalProperties: false },
      ),
    ),
    /** `leaseRenewedAt` of the previous answer: the server skips renewing a Lease that is still fresh. */
    leaseRenewedAt: Type.Optional(Type.Number({ minimum: 0 })),
    /** The node's resource usage, while the server asks for it (`SyncResponse.usage`). */
    usage: Type.Optional(UsageReportSchema),
    /** How long the server may hold the request when nothing changed (capped by the server). */
    waitSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })),
    /**
     * With `versions.pods`: the version of each pod the agent holds, as the server named them
     * (`podVersions`, `podsDiff.versions`); the server then answers the pods as a diff
     * (`podsDiff`). Sent only to a server that named versions (an older one refuses the field),
     * and not by an agent that holds more pods than fit: it is then sent every pod.
     */
    heldPods: Type.Optional(Type.Array(Str(32), { maxItems: MAX_HELD_PODS })),
  },
  { additionalProperties: false },
);
export type SyncRequest = Static<typeof SyncRequestSchema>;

export interface SyncVersions {
  pods: string;
  config: string;
  logs: string;
  routes: string;
  /** The ingress table's hash (agent/ingress/); absent from servers that have none. */
  ingress?: string;
}

export interface SyncResponse {
  /** What the agent holds after applying this answer; sent back as `versions` next time. */
  versions: SyncVersions;
  /** When the pods moved: every pod bound to this node, terminating ones included (the agent stops those). */
  pods?: Record<string, unknown>[];
  /** With `pods`: each one's version, in the same order (absent from servers that do not diff). */
  podVersions?: string[];
  /** Instead of `pods`, when the pods moved and the agent named those it holds (`heldPods`). */
  podsDiff?: PodsDiff;
  /**
   * When the pods or their config moved: the ConfigMaps and Secrets this node's pods reference
   * (env, envFrom, volumes), and no others: what a node may read of them, like Kubernetes'
   * NodeRestriction. A pod waiting for a missing one starts when it is created.
   */
  configMaps?: ConfigSource[];
  secrets?: ConfigSource[];
  /**
   * With the pods: the PersistentVolumes of this node (and those its pods' claims are bound to).
   * The agent mounts a claim's volume from it, and removes the directory of a provisioned volume
   * that is no longer listed (its PV was deleted: reclaim policy Delete).
   */
  volumes?: NodeVolume[];
  /** When they moved: the pending log requests for this node's pods, answered on `/agent/v1/logs`. */
  logRequests?: LogRequestRef[];
  /** When the routes moved: the Services whose routes changed (all of them when `full`), and those removed. */
  routes?: RoutesDiff;
  /** When the ingress table moved: the whole table, with the certificates it serves. */
  ingress?: IngressTable;
  /** While present: send the node's usage with each sync, at least this often (HPAs, `kubectl top`). */
  usage?: UsageWanted;
  /** The agent sends a full node status at least this often. */
  nodeStatusUpdateSeconds: number;
  /** When the node's Lease was last renewed (server clock, ms). */
  leaseRenewedAt: number;
  /**
   * Holding runtimes with many nodes: if this server goes away, wait a random time up to this
   * many seconds before the first call to it again, so its agents do not all reconnect at once
   * when it restarts (it accepts so many connections a second). Absent: retry as usual.
   */
  reconnectSpreadSeconds?: number;
  /** Held runtimes: the server takes held syncs whose body streams beats (schemas/agent-beats.ts). */
  beats?: SyncBeatsOffer;
  /**
   * Polling runtimes (Lambda): the server did not hold the call; call again after this many
   * seconds (shorter right after a change), or at once to report a status change.
   */
  syncAfterSeconds?: number;
}

/**
 * The pods of a node against the versions an agent holds: what it must now hold is what it held,
 * less `removed`, with `pods` added (a pod changed comes back under its uid with a new version,
 * its old version removed). A version is the server's hash of what the node runs from the pod
 * (functions/api/agent/pods-diff.ts): a status write alone does not change it.
 */
export interface PodsDiff {
  /** Pods added or changed since the versions held, terminating ones included. */
  pods: Record<string, unknown>[];
  /** Each one's version, in the same order. */
  versions: string[];
  /** Versions held that are no pod's now: deleted, replaced under the same name, or changed. */
  removed: string[];
}

export interface NodeVolume {
  /** The PersistentVolume's name. */
  name: string;
  /** `namespace/name` of the claim it is bound to (the claim's uid matched), if any. */
  claim?: string;
  /** Made by the local provisioner: a directory `<state dir>/volumes/<name>` the agent creates and removes. */
  provisioned: boolean;
  /** A hand-made PV's hostPath or local path on the node. */
  path?: string;
  /** hostPath type DirectoryOrCreate (or none): the agent creates a missing directory; a local path must exist. */
  create?: boolean;
}

export interface RoutesDiff {
  /** True: `services` is the whole table (replace what is held); false: only what changed. */
  full: boolean;
  services: ServiceRoute[];
  /** `namespace/name` of Services whose routes are gone. */
  removed?: string[];
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
  /**
   * A stream session rather than a snapshot (exec, attach, a followed log): the agent dials back
   * to `/agent/v1/stream?session=<session>` (a WebSocket) and speaks the channels of
   * schemas/stream-channels.ts there. Older agents ignore the field and answer with a snapshot,
   * which the server drops (the caller then times out).
   */
  stream?: StreamRequest;
}

/** What a stream session asks of the node (functions/api/exec.ts builds it, agent/exec/ runs it). */
export interface StreamRequest {
  /** The single-use session id the dial-back names (random, expires with the request). */
  session: string;
  kind: 'exec' | 'attach' | 'logs' | 'portforward';
  /** portforward: the pod's port the node connects to (on the pod's IP). */
  port?: number;
  /** exec: argv, run without a shell. */
  command?: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** logs: keep streaming until the container stops. */
  follow?: boolean;
  /** logs: only output newer than this many seconds, by the node's clock (as the kubelet reads it). */
  sinceSeconds?: number;
  /** logs: only output at or after this RFC 3339 time. */
  sinceTime?: string;
  /** logs: stop after this many bytes. */
  limitBytes?: number;
  /** logs: start with the last this many lines (absent: all of them, as the kubelet). */
  tailLines?: number;
  /** logs: the instance before the current one (the text the node kept of it). */
  previous?: boolean;
  /** logs: each line prefixed with its RFC 3339 time, as the kubelet does. */
  timestamps?: boolean;
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

/**
 * A pod's `serviceAccountToken` projected volume source, as the token request names it (the API
 * issues only one the pod's spec holds); bounds as Kubernetes validates them.
 */
export const TokenProjectionSchema = Type.Object(
  {
    audience: Type.Optional(Type.String({ maxLength: 1024 })),
    expirationSeconds: Type.Optional(Type.Integer({ minimum: 600, maximum: 2 ** 32 })),
  },
  { additionalProperties: false },
);
export type TokenProjection = Static<typeof TokenProjectionSchema>;

/**
 * `POST /agent/v1/token`: a token for a pod bound to the calling node (functions/pod-tokens.ts),
 * for its default mount or, with `projection`, for one of its serviceAccountToken projections.
 */
export const PodTokenRequestSchema = Type.Object(
  { pod: PodRefSchema, projection: Type.Optional(TokenProjectionSchema) },
  { additionalProperties: false },
);
export type PodTokenRequest = Static<typeof PodTokenRequestSchema>;

/**
 * The pod's ServiceAccount token, to mount at /var/run/secrets/kubernetes.io/serviceaccount, or
 * `automount: false` when the pod (or its ServiceAccount) mounts none.
 */
export type PodTokenResponse =
  | { automount: false }
  | { automount: true; token: string; expirationTimestamp: string; namespace: string };

/** A ConfigMap's `data`/`binaryData`, or a Secret's `data` (base64, as stored). */
export interface ConfigSource {
  namespace: string;
  name: string;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** `/agent/v1/wake`: how many of the node's held syncs were answered (0: none was held; cut instead). */
export interface WakeResponse {
  released: number;
  /**
   * None was held, but the server keeps the wake: the node's next held sync (the one on its way,
   * not yet read) is answered at once, so the agent need not cut it. Absent: cut (older servers).
   */
  kept?: boolean;
}
