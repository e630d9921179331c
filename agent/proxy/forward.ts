/**
 * TCP forwarding with retry, shared by the agent's service proxy (node ports) and the local
 * provider's load balancer (providers/local-lb.ts), so both spread and retry the same way.
 *
 * Each accepted connection goes to the next backend in round-robin order. A backend that refuses,
 * does not answer the connect within `connectTimeoutMs`, or closes the connection before sending a
 * single byte is skipped and the next one is tried, with the bytes the client sent so far replayed
 * (up to `replayLimitBytes`): the client sees an error only when every backend failed. The last
 * case matters because Docker's userland proxy accepts on a published port and only then finds the
 * container gone. Once a backend has answered, bytes flow both ways with backpressure and
 * half-close, and nothing the proxy learns later (new endpoints) touches the connection.
 */
import { connect, type Socket } from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

export interface ForwardOptions {
  connectTimeoutMs?: number;
  replayLimitBytes?: number;
  /** Told about each backend that failed, for logs and tests. */
  onBackendFailed?: (backend: Backend, reason: string) => void;
}

/** A backend list with a round-robin cursor; replace `backends` at any time. */
export class RoundRobin {
  private cursor = 0;

  constructor(public backends: Backend[] = []) {}

  /** Every backend, starting at the next one in turn. */
  order(): Backend[] {
    const n = this.backends.length;
    if (n === 0) return [];
    const start = this.cursor++ % n;
    if (this.cursor > 1e9) this.cursor = 0;
    return [...this.backends.slice(start), ...this.backends.slice(0, start)];
  }
}

/**
 * Serves one accepted connection: `candidates` in the order to try them (RoundRobin.order()).
 * Servers that accept for `forward` should be created with `allowHalfOpen: true` so a client that
 * half-closes still gets its answer.
 */
export function forward(client: Socket, candidates: Backend[], options: ForwardOptions = {}): void {
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const replayLimit = options.replayLimitBytes ?? 64 * 1024;
  client.setNoDelay(true);
  // What the client sent before a backend answered: replayed to the next backend if this one fails.
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let committed = false;
  let clientEnded = false;
  let upstream: Socket | undefined;
  let index = 0;

  const connected = () => upstream !== undefined && !upstream.connecting && !upstream.destroyed;
  const commit = () => {
    committed = true;
    buffered = [];
    bufferedBytes = 0;
  };

  client.on('data', (chunk: Buffer) => {
    if (!committed) {
      buffered.push(chunk);
      bufferedBytes += chunk.length;
    }
    if (connected()) {
      if (!upstream?.write(chunk)) client.pause();
      // Too much to replay: this backend is the one, whatever it does.
      if (!committed && bufferedBytes > replayLimit) commit();
    } else if (bufferedBytes > replayLimit) {
      client.pause();
    }
  });
  client.on('end', () => {
    clientEnded = true;
    if (connected()) upstream?.end();
  });
  client.on('drain', () => upstream?.resume());
  client.on('error', () => upstream?.destroy());
  client.on('close', () => upstream?.destroy());

  const attempt = () => {
    const backend = candidates[index++];
    if (!backend || client.destroyed) {
      client.destroy();
      return;
    }
    const up = connect({ host: backend.host, port: backend.port });
    upstream = up;
    up.setNoDelay(true);
    up.setTimeout(connectTimeoutMs);
    let answered = false;
    let failed = false;
    const fail = (reason: string) => {
      if (failed) return;
      failed = true;
      options.onBackendFailed?.(backend, reason);
      up.removeAllListeners();
      up.on('error', () => {});
      up.destroy();
      attempt();
    };
    const retryable = () => !answered && !committed;
    up.once('timeout', () => {
      if (up.connecting) fail('connect timeout');
    });
    up.on('error', (err) => {
      if (retryable()) fail(err.message);
      else client.destroy();
    });
    up.once('connect', () => {
      up.setTimeout(0);
      for (const chunk of buffered) up.write(chunk);
      if (bufferedBytes > replayLimit) commit();
      if (clientEnded) up.end();
      else client.resume();
    });
    up.on('data', (chunk: Buffer) => {
      if (!answered) {
        answered = true;
        commit();
      }
      if (!client.write(chunk)) up.pause();
    });
    up.on('drain', () => client.resume());
    up.on('end', () => {
      if (retryable()) return fail('closed before answering');
      client.end();
    });
    up.on('close', (hadError) => {
      if (retryable()) return fail('closed before answering');
      if (hadError) client.destroy();
    });
  };
  attempt();
}
