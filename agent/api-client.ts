/**
 * The agent's HTTP client for `/agent/v1/*`. Errors are translated here: a control plane that
 * cannot be reached is `ApiUnreachableError` (the agent keeps every container running and retries),
 * a rejected credential is `CredentialRejectedError`, anything else `ApiRequestError`.
 */
import type { RegisterRequest, RegisterResponse, SyncRequest, SyncResponse } from '../schemas/agent-protocol';

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
  constructor(
    private readonly baseUrl: string,
    private token: string,
  ) {}

  setToken(token: string): void {
    this.token = token;
  }

  register(body: RegisterRequest): Promise<RegisterResponse> {
    return this.post('/agent/v1/register', body, 15_000);
  }

  sync(body: SyncRequest, signal?: AbortSignal): Promise<SyncResponse> {
    const waitMs = (body.waitSeconds ?? 0) * 1000;
    return this.post('/agent/v1/sync', body, waitMs + 15_000, signal);
  }

  private async post<T>(path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: combined,
      });
    } catch (err) {
      throw new ApiUnreachableError(`calling ${path}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    if (res.status === 401) throw new CredentialRejectedError(`calling ${path}: credential rejected (401)`);
    if (res.status >= 500) throw new ApiUnreachableError(`calling ${path}: server error ${res.status}`);
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      throw new ApiRequestError(`calling ${path}: ${res.status} ${message}`, res.status);
    }
    return JSON.parse(text) as T;
  }
}
