/**
 * The API core's platform-free request and response. `functions/runtime/local.ts` (node:http) and
 * `functions/runtime/lambda.ts` (API Gateway HTTP API v2 events) translate to and from these;
 * nothing in `functions/api/` knows which one called it.
 */
import type { KindInfo } from '../../schemas';
import type { ServiceRange } from '../cluster-ips';
import type { Deps } from '../deps';
import type { NodePortRange } from '../node-ports';
import type { StreamSessions } from './exec-sessions';

export interface ApiRequest {
  method: string;
  /** Decoded path without the query string, e.g. `/api/v1/namespaces/default/pods`. */
  path: string;
  query: URLSearchParams;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** Raw body bytes; the runtime has already enforced the size limit (413). */
  body?: Uint8Array;
  /** Aborted when the client goes away (long-polls stop waiting). */
  signal?: AbortSignal;
  /**
   * A body streamed past its first line (`body` is that line): a held sync's beats
   * (schemas/agent-beats.ts). Only the local runtime gives one, and only to requests that say so.
   */
  bodyTail?: BodyTail;
}

/** The rest of a request body as it arrives. */
export interface BodyTail {
  /** Each later chunk as it comes, then `onEnd` once (the body ended, or the connection closed). */
  read(onChunk: (chunk: Uint8Array) => void, onEnd: () => void): void;
  /** Cuts the connection (a tail that sends what it must not). */
  destroy(): void;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /**
   * A streamed body (watch): the runtime sends the head, then what `write` is given as it comes,
   * until the promise settles; `signal` fires when the client goes away. Only runtimes that can
   * stream (the local server) are given such responses (`ApiConfig.watch`).
   */
  stream?: (write: (chunk: string | Uint8Array) => void, signal: AbortSignal) => Promise<void>;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse>;

export interface ApiConfig {
  /** The runtime can stream responses and sees every write (one process): watch is served. */
  watch?: boolean;
  /** How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK (default a minute). */
  watchBookmarkMs?: number;
  /** Largest accepted request body in bytes (default 1 MiB); runtimes enforce it while reading. */
  maxBodyBytes: number;
  /** Reported by /version. */
  version: string;
  /** Where Services' node ports come from (default 30000-32767). */
  nodePortRange?: NodePortRange;
  /** Where Services' cluster IPs come from (default 10.96.0.0/16). */
  serviceRange?: ServiceRange;
  /** How agent syncs are answered: held (local, the default) or polled (Lambda); see api/agent/modes.ts. */
  agentSync?: AgentSyncConfig;
  /**
   * How long a verified token is trusted without a store read (default 1 s: api/auth.ts
   * TokenCache). Writes this process sees clear it at once; this bounds a revocation made elsewhere.
   */
  tokenCacheTtlMs?: number;
}

/** The runtime's choice for `/agent/v1/sync` (functions/api/agent/modes.ts has the two presets). */
export interface AgentSyncConfig {
  /**
   * True: a quiet sync is held open until the node's desired state moves (free where a process
   * waits anyway) and a dropped held call is a failure signal. False: every sync answers at once
   * with `syncAfterSeconds` (where a held call is billed by the second: Lambda).
   */
  hold: boolean;
  /** The node Lease's duration: node-lifecycle's grace period must be the same. */
  leaseDurationSeconds: number;
  /**
   * A sync renews the Lease only when its last renewal would be older than this by the agent's next
   * sync (held: at once; polled: after the interval it is told), so a heartbeat is mostly no write.
   */
  renewAfterSeconds: number;
  /** Polling: the interval when nothing changed for the node lately, and right after a change. */
  quietSyncSeconds: number;
  busySyncSeconds: number;
  /** How long after a change of the node's desired state it syncs at the busy interval. */
  busyForSeconds: number;
  /**
   * How long a list by node may lag a write (DynamoDB's node index is eventually consistent): an
   * answer within this of a change gives versions the agent will not match, so it reads again.
   */
  listSettleMs: number;
  /** The agent sends its full node status at least this often (else only on change). */
  nodeStatusUpdateSeconds: number;
}

export interface ApiDeps extends Deps {
  config: ApiConfig;
  /**
   * Stream sessions (exec, attach, followed logs) waiting for their node to dial back: only a
   * runtime that holds connections has them (the local server); without it those are refused.
   */
  streams?: StreamSessions;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A request's target: the kind, and the namespace, name and subresource the path names. */
export interface ResourceRoute {
  info: KindInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}
