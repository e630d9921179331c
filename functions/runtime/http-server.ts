/**
 * node:http around the API core: enforces the body limit while reading (413 as soon as it is
 * crossed, without buffering the rest), turns the request into an ApiRequest (with an AbortSignal
 * that fires when the client goes away, so long-polls stop waiting), and closes gracefully.
 *
 * Slow clients are bounded: headers must arrive within 10 s and a whole request (body included)
 * within 30 s (Node's defaults are 60 s and 300 s), a body that stops arriving is cut at its own
 * deadline (408, connection closed), idle keep-alive connections close after 15 s, and at most
 * `maxConnections` are open at once (the ones past it are closed as they are accepted). These
 * bound how a request is *received*: a watch or an agent's long-poll is a long response to a short
 * request, and is not cut. Connections are accepted on several handles of the one listening
 * socket (accept-handles.ts), so a burst of agents connecting does not wait on the loop's turns.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { statusBody } from '../api/http-errors';
import type { ApiHandler, ApiRequest } from '../api/types';
import type { Logger } from '../log';
import { addAcceptHandles } from './accept-handles';
import { apiRequestHead } from './api-request';
import { BodyDeadlines, sweepInterval } from './body-deadlines';
import { readBodyHead, wantsBodyHead } from './body-head';

export interface ApiServerOptions {
  handler: ApiHandler;
  host: string;
  port: number;
  maxBodyBytes: number;
  log: Logger;
  /** PEM certificate (chain) and key: serve HTTPS. Without it, plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Bounds on slow clients (tests shorten them); the defaults are SERVER_LIMITS. */
  limits?: Partial<ServerLimits>;
  /** HTTP upgrades (kubectl exec/attach WebSockets: exec-upgrade.ts); without it they are answered 400. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * How long this request's body may take to arrive, when not `limits.bodyMs` (a request whose
   * body streams for longer names its own here); it ends within that plus one sweep
   * (body-deadlines.ts: a quarter of `limits.bodyMs`, at most 1 s), and Node's `limits.requestMs`
   * still bounds the whole request.
   */
  bodyDeadlineMs?: (req: IncomingMessage) => number | undefined;
}

export interface ServerLimits {
  /** Until the request's headers are in (Node's headersTimeout). */
  headersMs: number;
  /** Until the whole request, body included, is in (Node's requestTimeout). */
  requestMs: number;
  /** Between two chunks of a body, and for the whole body: a stalled upload is cut with 408. */
  bodyMs: number;
  /** An idle keep-alive connection closes after this. */
  keepAliveMs: number;
  /** Open connections at most (watches and long-polls hold one each); kept under the file limit (connectionLimit). */
  maxConnections: number;
  /** Connections the kernel queues before the server accepts them (capped by net.core.somaxconn). */
  listenBacklog: number;
  /** Handles accepting on the listening socket besides the server's own (each accepts one connection a loop turn). */
  extraAcceptHandles: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersMs: 10_000,
  requestMs: 30_000,
  bodyMs: 20_000,
  // Above a typical client's reuse window, below the 65 s that suits only a load balancer in front.
  keepAliveMs: 15_000,
  // Every agent keeps two (its held sync, and the one its reports and wakes go on while the sync
  // is held) and the issue 12 goal is 5,000 nodes: 10,000, with room for watches, kubectl and
  // exec streams. Past the limit Node closes each new connection as it accepts it, and the
  // agent's retry is another one: at 8,192 the 5,000-node bench churned. Capped below the
  // process's file limit (connectionLimit), so SQLite and logs can still open files.
  maxConnections: 16_384,
  // Node's default is 511: agents reconnecting at once (each cut held sync is a new connection)
  // overflowed it at 1,000 nodes, and a dropped SYN is resent only after 1, 3, 7, 15 s.
  listenBacklog: 4_096,
  // A busy loop turns 2-50 times a second, and each handle accepts one connection a turn. With 16
  // handles, 5,000 nodes registering over 10 s (500 connections a second against turns of
  // 0.3-0.5 s) waited in the accept queue past their 15 s timeout: the kernel kept connections
  // whose clients had given up, the server registered nodes whose answers nobody read (9,254
  // registrations for 5,000 nodes) and 2,300 never made a first sync. 128 handles: no listen
  // drops, every node Ready. One more fd and poll entry each; a handle whose turn finds the
  // queue empty costs nothing (it is not readable).
  extraAcceptHandles: 127,
};

/** Descriptors kept for everything but connections (the store's files, logs, child pipes). */
const FD_RESERVE = 1_024;

/** `wanted`, or less where the process's open-file limit (Linux: /proc/self/limits) leaves less room. */
export function connectionLimit(wanted: number, limitsText = readLimits()): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limitsText)?.[1];
  if (soft === undefined || soft === 'unlimited') return wanted;
  return Math.min(wanted, Math.max(64, Number(soft) - FD_RESERVE));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}

export interface ApiServer {
  url: string;
  port: number;
  /** Resolves with how many handles accept connections once the extra ones are in. */
  acceptHandles: Promise<number>;
  /** Connections open now (counted against maxConnections). */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const inflight = new Set<Promise<void>>();
  const limits = { ...SERVER_LIMITS, ...options.limits };
  const http = {
    keepAliveTimeout: limits.keepAliveMs,
    headersTimeout: Math.min(limits.headersMs, limits.requestMs),
    requestTimeout: limits.requestMs,
    // How often Node checks the two timeouts above (default 30 s, longer than they are).
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersMs / 2)),
  };
  const bodies = new BodyDeadlines(sweepInterval(limits.bodyMs));
  const serveWith = { ...options, limits, bodies };
  // Once closing, no request is served and every answer closes its connection: a kept-alive
  // connection must not carry the next request to a server whose store is closed (the client
  // reconnects, to the next server on the port if there is one).
  let closing = false;
  const answering = new Set<ServerResponse>();
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (closing) {
      send(
        res,
        503,
        { 'content-type': 'application/json', connection: 'close' },
        JSON.stringify(statusBody(503, 'ServiceUnavailable', 'the server is shutting down')),
      );
      req.resume();
      return;
    }
    answering.add(res);
    const p = serve(serveWith, req, res).finally(() => {
      inflight.delete(p);
      answering.delete(res);
    });
    inflight.add(p);
  };
  const server: Server = options.tls
    ? createTlsServer({ ...http, cert: options.tls.cert, key: options.tls.key }, onRequest)
    : createServer(http, onRequest);
  // Counted here rather than by Node's server.maxConnections: sockets accepted on the extra
  // handles reach the server as 'connection' events, which Node's own count does not see.
  const maxConnections = connectionLimit(limits.maxConnections);
  // Every socket, whichever handle accepted it: net.Server counts only its own handle's, so its
  // close() would call back while the copies' connections still run requests (closeServer).
  const sockets = new Set<Socket>();
  server.prependListener('connection', (socket: Socket) => {
    if (sockets.size >= maxConnections) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (options.upgrade) options.upgrade(req, socket, head);
    else socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, backlog: limits.listenBacklog }, () => resolve());
  });
  const extra = addAcceptHandles(
    server,
    limits.extraAcceptHandles,
    limits.listenBacklog,
    (socket) => server.emit('connection', socket),
    options.log,
  );
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    /** How many handles accept (the server's own and the copies that arrived). */
    acceptHandles: extra.ready.then((n) => n + 1),
    openConnections: () => sockets.size,
    async close() {
      closing = true;
      for (const res of answering) if (!res.headersSent) res.shouldKeepAlive = false;
      extra.close();
      await closeServer(server, sockets);
      bodies.close();
      // Handlers still running (a long-poll woken by its client going away) finish before the
      // caller closes the store under them.
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 6_000))]);
    },
  };
}

async function serve(
  options: ApiServerOptions & { limits: ServerLimits; bodies: BodyDeadlines },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const bodyMs = options.bodyDeadlineMs?.(req) ?? options.limits.bodyMs;
    // A held sync streaming beats (body-head.ts): its first line is the body, the rest its tail.
    const headed = wantsBodyHead(req) ? await readBodyHead(req, options.maxBodyBytes, bodyMs) : undefined;
    const tail = typeof headed === 'object' ? headed : undefined;
    const body =
      typeof headed === 'object'
        ? headed.head
        : (headed ?? (hasBody(req) ? await readBody(req, options.maxBodyBytes, bodyMs, options.bodies) : EMPTY));
    if (tail) res.once('finish', tail.drain);
    if (body === 'timeout') {
      send(
        res,
        408,
        { 'content-type': 'application/json', connection: 'close' },
        JSON.stringify(statusBody(408, 'Timeout', `the request body did not arrive within ${bodyMs} ms`)),
      );
      req.destroy();
      return;
    }
    if (body === 'too-large') {
      send(
        res,
        413,
        { 'content-type': 'application/json', connection: 'close' },
        JSON.stringify(
          statusBody(
            413,
            'RequestEntityTooLarge',
            `request body is larger than the limit of ${options.maxBodyBytes} bytes`,
          ),
        ),
      );
      req.resume();
      return;
    }
    // The raw path, not WHATWG URL resolution: `..` stays a path segment (and fails routing) rather
    // than silently naming another resource, and a GET costs no URL object.
    let abort: AbortController | undefined;
    const apiReq: ApiRequest = {
      ...apiRequestHead(req),
      // Made on first use (only long-polls wait on it): fires when the client goes away.
      get signal() {
        if (!abort) {
          const controller = new AbortController();
          abort = controller;
          res.on('close', () => {
            if (!res.writableFinished) controller.abort();
          });
          if (res.destroyed) controller.abort();
        }
        return abort.signal;
      },
      ...(body.length > 0 ? { body } : {}),
      ...(tail ? { bodyTail: tail.tail } : {}),
    };
    const out = await options.handler(apiReq);
    if (out.stream) {
      // Chunked: no length; each write goes out as it is made.
      res.writeHead(out.status, out.headers);
      res.flushHeaders();
      await out.stream((chunk) => {
        if (!res.destroyed) res.write(chunk);
      }, apiReq.signal as AbortSignal);
      if (!res.destroyed) res.end();
      return;
    }
    send(res, out.status, out.headers, out.body);
  } catch (err) {
    options.log.error('serving request failed', {
      method: req.method,
      path: req.url?.split('?')[0],
      error: String(err),
    });
    if (!res.headersSent)
      send(
        res,
        500,
        { 'content-type': 'application/json' },
        JSON.stringify(statusBody(500, 'InternalError', 'internal error')),
      );
  }
}

const EMPTY = new Uint8Array(0);

/** RFC 9112 §6.3: a request has a body only with Content-Length or Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.destroyed) return;
  // Encoded once: its length and the bytes sent from one pass over the text (sync answers
  // carrying a route change are a few hundred KB, to every node).
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...headers, 'content-length': bytes.length });
  res.end(bytes);
}

/** The body, `too-large` past `limit` bytes, or `timeout` when it is not all in within `deadlineMs`. */
function readBody(
  req: IncomingMessage,
  limit: number,
  deadlineMs: number,
  deadlines: BodyDeadlines,
): Promise<Uint8Array | 'too-large' | 'timeout'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Uint8Array | 'too-large' | 'timeout') => {
      if (done) return;
      done = true;
      release();
      chunks.length = 0;
      resolve(value);
    };
    // Endless chunked bodies (a trickle of bytes forever) end here, whatever they send.
    const release = deadlines.add(deadlineMs, () => finish('timeout'));
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        finish('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) finish(new Uint8Array(Buffer.concat(chunks)));
    });
    req.on('error', (err) => {
      release();
      if (!done) {
        done = true;
        reject(err);
      }
    });
    req.on('close', () => finish('timeout'));
  });
}

async function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  server.close();
  // Long-polls end within their bound; a connection goes idle when its request is answered and is
  // closed then. Do not wait longer than the bound for stragglers.
  const deadline = Date.now() + 6_000;
  while (sockets.size > 0 && Date.now() < deadline) {
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
  }
  server.closeAllConnections();
  for (const socket of sockets) socket.destroy();
}
