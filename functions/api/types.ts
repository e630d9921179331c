/**
 * The API core's platform-free request and response. `functions/runtime/local.ts` (node:http) and
 * `functions/runtime/lambda.ts` (API Gateway HTTP API v2 events) translate to and from these;
 * nothing in `functions/api/` knows which one called it.
 */
import type { KindInfo } from '../../schemas';
import type { Deps } from '../deps';
import type { NodePortRange } from '../node-ports';

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
  stream?: (write: (chunk: string) => void, signal: AbortSignal) => Promise<void>;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse>;

export interface ApiConfig {
  /** The runtime can stream responses and sees every write (one process): watch is served. */
  watch?: boolean;
  /** Largest accepted request body in bytes (default 1 MiB); runtimes enforce it while reading. */
  maxBodyBytes: number;
  /** Reported by /version. */
  version: string;
  /** Where Services' node ports come from (default 30000-32767). */
  nodePortRange?: NodePortRange;
}

export interface ApiDeps extends Deps {
  config: ApiConfig;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A request's target: the kind, and the namespace, name and subresource the path names. */
export interface ResourceRoute {
  info: KindInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}
