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
    if (!ok.includes(res.status))
      throw new DockerError(`docker ${method} ${path.split('?')[0]}: ${res.status} ${messageOf(res.body)}`, res.status);
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

function messageOf(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as { message?: string }).message ?? body.toString('utf8');
  } catch {
    return body.toString('utf8').slice(0, 200);
  }
}

/**
 * Both streams of non-TTY output in the order they were written: frames of an 8-byte header
 * (stream, 0, 0, 0, size32be) and the bytes.
 */
export function demuxInterleaved(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts);
}
