/**
 * The CLI's only way to the control plane: HTTP with a bearer token, on node:http/https (the
 * global fetch loads undici, about 30 ms of every command's start; NODE_EXTRA_CA_CERTS works alike).
 * Every non-2xx answer becomes an ApiError carrying the Kubernetes `Status` body; a server that
 * cannot be reached becomes one clear line that names the URL.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type ResolvedConfig, resolveConfig } from './config';
import { ApiError, CliError } from './errors';

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  /** A JS value is sent as JSON; a string is sent as-is with `contentType`. */
  body?: unknown;
  contentType?: string;
  /** Send no Authorization header (/version, /healthz). */
  anonymous?: boolean;
}

export class ApiClient {
  /** `Warning:` headers of the answers so far (admission warnings, e.g. Pod Security's warn mode), unquoted. */
  readonly warnings: string[] = [];

  constructor(readonly config: ResolvedConfig) {}

  get server(): string {
    return this.config.server;
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.config.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!options.anonymous && this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    let res: { status: number; headers: IncomingHttpHeaders; text: string };
    try {
      res = await send(url, method, headers, body);
    } catch (e) {
      const why = (e as { code?: string }).code ?? (e as Error).message;
      throw new CliError(
        `cannot reach the ferry server at ${this.config.server} (${why}); is \`ferry server\` running?`,
      );
    }
    const warning = res.headers.warning;
    this.warnings.push(...parseWarnings(Array.isArray(warning) ? warning.join(', ') : (warning ?? null)));
    const text = res.text;
    let parsed: unknown = text;
    if (text && (res.headers['content-type'] ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the raw text; the error below (or the caller) deals with it
      }
    }
    if (res.status < 200 || res.status > 299) {
      const error = ApiError.from(res.status, parsed, `${method} ${path}`);
      if (res.status === 401 && !this.config.token) {
        throw new ApiError(
          401,
          error.status,
          `${error.message}: no token (set FERRY_TOKEN, or start \`ferry server\` once to write ${this.config.path})`,
        );
      }
      throw error;
    }
    return parsed as T;
  }
}

/** What `streamBody` and `openWebSocket` need beyond `ApiClient.request`. */
export interface StreamTarget {
  path: string;
  /** Repeated keys (exec's `command`) are kept in order. */
  query: URLSearchParams;
}

/**
 * A GET whose body is handed to `onChunk` as it arrives (`logs -f`); resolves when it ends or
 * `signal` aborts. A non-2xx answer is an ApiError, as for `request`.
 */
export async function streamBody(
  client: ApiClient,
  target: StreamTarget,
  onChunk: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  const url = new URL(`${client.server}${target.path}?${target.query}`);
  const headers: Record<string, string> = client.config.token ? { authorization: `Bearer ${client.config.token}` } : {};
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, ...(signal ? { signal } : {}) }, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(refusal(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), target.path)));
        return;
      }
      res.on('data', onChunk);
      res.on('end', () => resolve());
      res.on('error', () => resolve());
      res.on('aborted', () => resolve());
    });
    req.on('error', (e) =>
      signal?.aborted
        ? resolve()
        : reject(
            new CliError(
              `cannot reach the ferry server at ${client.server} (${(e as { code?: string }).code ?? e.message})`,
            ),
          ),
    );
    req.end();
  });
}

/**
 * A WebSocket to the API (`ferry exec`) offering `protocols`; `ws` is loaded only here. A refused
 * handshake is an ApiError carrying the server's Status.
 */
export async function openWebSocket(client: ApiClient, target: StreamTarget, protocols: string[]) {
  const { WebSocket } = await import('ws');
  const url = new URL(`${client.server}${target.path}?${target.query}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const headers: Record<string, string> = client.config.token ? { authorization: `Bearer ${client.config.token}` } : {};
  const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(refusal(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), target.path)));
    });
    ws.once('error', (e) => reject(new CliError(`cannot reach the ferry server at ${client.server} (${e.message})`)));
  });
  return ws;
}

function refusal(status: number, text: string, path: string): ApiError {
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return ApiError.from(status, parsed, `GET ${path}`);
}

/** One request and its whole answer. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** RFC 7234 `299 - "text"` values, as kube-apiserver sends them (comma-separated in one header). */
export function parseWarnings(header: string | null): string[] {
  const out: string[] = [];
  for (const m of (header ?? '').matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g))
    out.push((m[1] ?? '').replace(/\\(.)/g, '$1'));
  return out;
}

/** A client for the server and token the environment and config file name. */
export async function connect(env: Record<string, string | undefined>): Promise<ApiClient> {
  return new ApiClient(await resolveConfig(env));
}
