/**
 * The agent's HTTP client for `/agent/v1/*`. Errors are translated here: a control plane that
 * cannot be reached is `ApiUnreachableError` (the agent keeps every container running and retries),
 * a rejected credential is `CredentialRejectedError`, anything else `ApiRequestError`.
 *
 * node:http rather than fetch: loading fetch (undici) costs an idle process about 12 MB of
 * resident memory, a fifth of the agent's budget; keep-alive connections are reused the same way.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { SyncBeatsOffer } from '../schemas/agent-beats';
import type {
  LogAnswer,
  PodTokenRequest,
  PodTokenResponse,
  RegisterRequest,
  RegisterResponse,
  SyncRequest,
  SyncResponse,
  WakeResponse,
} from '../schemas/agent-protocol';
import { BeatsUnhonouredError, beatCall } from './beat-call';
import { dialStream, type StreamSocket } from './exec/dial';

export { BeatsUnhonouredError };

/**
 * How long a registration may take to answer. Longer than any other call's bound: a NodePool that
 * starts thousands of machines at once queues their registrations behind each other, and a client
 * that gives up at 15 s retries into the same queue, doubling it (issue 12: about 5,000 retries in
 * one 5,000-node start). A retry is still safe (functions/api/register.ts `sameRegistration`).
 */
export const REGISTER_TIMEOUT_MS = 60_000;

export class ApiUnreachableError extends Error {}
export class CredentialRejectedError extends Error {}
export class ApiRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class AgentApiClient {
  private readonly connections: HttpAgent;

  constructor(
    private readonly baseUrl: string,
    private token: string,
  ) {
    this.connections = baseUrl.startsWith('https:')
      ? new HttpsAgent({ keepAlive: true })
      : new HttpAgent({ keepAlive: true });
  }

  setToken(token: string): void {
    this.token = token;
  }

  register(body: RegisterRequest): Promise<RegisterResponse> {
    return this.post('/agent/v1/register', body, REGISTER_TIMEOUT_MS);
  }

  sync(body: SyncRequest, signal?: AbortSignal): Promise<SyncResponse> {
    const waitMs = (body.waitSeconds ?? 0) * 1000;
    return this.post('/agent/v1/sync', body, waitMs + 15_000, signal);
  }

  /**
   * A held sync whose body streams beats while held (agent/beat-call.ts); BeatsUnhonouredError when
   * the server or a proxy between did not take them. `wake` aborted: a wake in the stream (the
   * offer's `wakes`), so the server answers now.
   */
  async syncWithBeats(
    body: SyncRequest,
    offer: SyncBeatsOffer,
    signal?: AbortSignal,
    wake?: AbortSignal,
  ): Promise<SyncResponse> {
    const path = '/agent/v1/sync';
    const timeout = AbortSignal.timeout((body.waitSeconds ?? 0) * 1000 + 15_000);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: { status: number; text: string };
    try {
      res = await beatCall(
        new URL(path, this.baseUrl),
        this.token,
        this.connections,
        JSON.stringify(body),
        offer,
        combined,
        wake,
      );
    } catch (err) {
      if (err instanceof BeatsUnhonouredError) throw err;
      throw new ApiUnreachableError(`calling ${path}: ${(err as Error).message}`);
    }
    return decode<SyncResponse>(path, res);
  }

  /** A ServiceAccount token for a pod bound to this node (the API refuses any other pod). */
  podToken(body: PodTokenRequest): Promise<PodTokenResponse> {
    return this.post('/agent/v1/token', body, 15_000);
  }

  /** Asks the server to answer this node's held sync now (on another kept-alive connection). */
  wake(): Promise<WakeResponse> {
    return this.post('/agent/v1/wake', {}, 5_000);
  }

  answerLogs(body: LogAnswer): Promise<unknown> {
    return this.post('/agent/v1/logs', body, 15_000);
  }

  /** Dials back for a stream session the sync named (agent/exec/dial.ts). */
  dialStream(session: string): Promise<StreamSocket> {
    return dialStream(this.baseUrl, this.token, session);
  }

  private async post<T>(path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: { status: number; text: string };
    try {
      res = await this.send(new URL(path, this.baseUrl), JSON.stringify(body), combined);
    } catch (err) {
      throw new ApiUnreachableError(`calling ${path}: ${(err as Error).message}`);
    }
    return decode<T>(path, res);
  }

  private send(url: URL, payload: string, signal: AbortSignal): Promise<{ status: number; text: string }> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.connections,
          signal,
          headers: {
            authorization: `Bearer ${this.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('connection closed mid-response')));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** An answer's status translated to the errors above, or its JSON. */
function decode<T>(path: string, { status, text }: { status: number; text: string }): T {
  if (status === 401) throw new CredentialRejectedError(`calling ${path}: credential rejected (401)`);
  if (status >= 500) throw new ApiUnreachableError(`calling ${path}: server error ${status}`);
  if (status < 200 || status >= 300) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {}
    throw new ApiRequestError(`calling ${path}: ${status} ${message}`, status);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    // A held answer whose body broke off (agent/beat-call.ts: the head came, the rest did not).
    throw new ApiUnreachableError(`calling ${path}: the answer is not whole`);
  }
}
