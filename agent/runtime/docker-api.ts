/** A minimal Docker Engine API client over the unix socket (node:http), no dependencies. */
import { request } from 'node:http';
import { RuntimeUnavailableError } from './types';

export interface DockerResponse {
  status: number;
  body: Buffer;
}

export class DockerApi {
  constructor(
    private readonly socketPath: string,
    private readonly prefix = '/v1.41',
  ) {}

  call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
    extraHeaders: Record<string, string> = {},
  ): Promise<DockerResponse> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.socketPath,
          path: this.prefix + path,
          method,
          headers: {
            ...extraHeaders,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`docker ${method} ${path}: timed out after ${timeoutMs}ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
          reject(
            new RuntimeUnavailableError(
              `Docker Engine is not reachable at ${this.socketPath} (${err.code}): install and start it (apt-get install docker.io; dockerd &)`,
            ),
          );
        } else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  async json<T>(method: string, path: string, body?: unknown, ok: number[] = [200, 201, 204]): Promise<T> {
    const res = await this.call(method, path, body);
    if (!ok.includes(res.status)) throw dockerError(`docker ${method} ${path.split('?')[0]}`, res.status, res.body);
    return (res.body.length ? JSON.parse(res.body.toString('utf8')) : {}) as T;
  }
}

export class DockerError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The error for a refused call: what was done, the status, and the message Docker gave (JSON or text). */
export function dockerError(what: string, status: number, body: Buffer): DockerError {
  const text = body.toString('utf8');
  let message = text.slice(0, 300);
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {}
  return new DockerError(`${what}: ${status} ${message}`, status);
}
