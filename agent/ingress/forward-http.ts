/**
 * Forwards one HTTP request (or WebSocket upgrade) to a Service's endpoints, with the node
 * proxy's guarantee where it is cheap: endpoints are tried in round-robin order, and one that
 * refuses or does not accept the connect in time is skipped for the next before any byte of the
 * request is sent, so the client sees an error only when all of them failed (502). The request
 * body is piped only once a backend's connection is up, so nothing needs replaying. A bodiless
 * GET/HEAD/OPTIONS whose endpoint closes before answering is sent to the next one too.
 *
 * Headers: hop-by-hop ones (RFC 9110 §7.6.1, and those `Connection` names) are dropped; the
 * client's `Host` is kept; `X-Forwarded-For` gets the client's address appended,
 * `X-Forwarded-Proto`/`-Host`/`-Port` say what the client asked for (any it sent are replaced:
 * a client must not choose what the backend believes about it, except the For chain as nginx
 * keeps it).
 */
import { type IncomingMessage, type OutgoingHttpHeaders, request, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Backend } from '../proxy/forward';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ForwardContext {
  proto: 'http' | 'https';
  /** The port the client connected to (X-Forwarded-Port). */
  port: number;
  connectTimeoutMs?: number;
  onBackendFailed?: (backend: Backend, reason: string) => void;
}

/** The headers the backend gets, as [name, value] pairs (repeated names kept). */
export function forwardedHeaders(req: IncomingMessage, ctx: ForwardContext, upgrade = false): [string, string][] {
  const named = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: [string, string][] = [];
  let forwardedFor = '';
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
      continue;
    }
    if (lower === 'x-forwarded-proto' || lower === 'x-forwarded-host' || lower === 'x-forwarded-port') continue;
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push([name, value]);
  }
  const client = req.socket.remoteAddress ?? '';
  out.push(['X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${client}` : client]);
  out.push(['X-Forwarded-Proto', ctx.proto]);
  if (req.headers.host) out.push(['X-Forwarded-Host', req.headers.host]);
  out.push(['X-Forwarded-Port', String(req.socket.localPort ?? ctx.port)]);
  // One request per backend connection: nothing is pooled, so the backend may close at once.
  if (upgrade) out.push(['Connection', 'Upgrade'], ['Upgrade', String(req.headers.upgrade ?? '')]);
  else out.push(['Connection', 'close']);
  return out;
}

/** Connects to the first backend that accepts, in order; rejects when none does. */
function connectFirst(backends: Backend[], ctx: ForwardContext, from = 0): Promise<{ socket: Socket; index: number }> {
  const timeout = ctx.connectTimeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    let i = from;
    const next = () => {
      const b = backends[i++];
      if (!b) return reject(new Error('no endpoint accepted the connection'));
      const socket = connect({ host: b.host, port: b.port });
      socket.setTimeout(timeout);
      const fail = (reason: string) => {
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.destroy();
        ctx.onBackendFailed?.(b, reason);
        next();
      };
      socket.once('error', (err) => fail(err.message));
      socket.once('timeout', () => fail('connect timeout'));
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        socket.removeAllListeners('timeout');
        socket.setTimeout(0);
        resolve({ socket, index: i - 1 });
      });
    };
    next();
  });
}

/** Sends a short plain-text answer (404, 502, 503) unless the response has already begun. */
export function answer(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Methods whose bodiless request may be sent again (RFC 9110 §9.2.2; nginx's proxy_next_upstream default). */
const RETRIABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  backends: Backend[],
  ctx: ForwardContext,
  from = 0,
): Promise<void> {
  let socket: Socket;
  let index: number;
  try {
    ({ socket, index } = await connectFirst(backends, ctx, from));
  } catch {
    answer(res, 502, 'no endpoint of the backend Service accepted the connection\n');
    return;
  }
  if (req.destroyed) {
    socket.destroy();
    return;
  }
  // Docker's userland proxy accepts on a gone container's host port and then closes: a bodiless
  // idempotent request that got no answer byte is sent to the next endpoint, as the node proxy does.
  const bodiless = req.headers['transfer-encoding'] === undefined && Number(req.headers['content-length'] ?? 0) === 0;
  const retriable = bodiless && RETRIABLE.has(req.method ?? '') && index + 1 < backends.length;
  const headers = forwardedHeaders(req, ctx);
  const upstream = request({
    method: req.method,
    path: req.url,
    // Node takes raw [name, value, ...] pairs here, keeping repeated headers apart.
    headers: headers.flat() as unknown as OutgoingHttpHeaders,
    // Not `agent: false`: Node then makes its own connection and ignores this one.
    createConnection: () => socket,
  });
  let answered = false;
  upstream.on('response', (up) => {
    answered = true;
    const out: string[] = [];
    const raw = up.rawHeaders;
    const named = new Set(
      String(up.headers.connection ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase()),
    );
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase();
      if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
      out.push(raw[i] as string, raw[i + 1] as string);
    }
    res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    if (!answered && retriable && !res.headersSent && !req.destroyed) {
      ctx.onBackendFailed?.(backends[index] as Backend, `closed before answering: ${err.message}`);
      void forwardRequest(req, res, backends, ctx, index + 1);
      return;
    }
    answer(res, 502, 'the backend closed the connection before answering\n');
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  if (bodiless) upstream.end();
  else req.pipe(upstream);
}

/** A WebSocket (or any Upgrade) request: the handshake is forwarded, then bytes flow both ways. */
export async function forwardUpgrade(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  backends: Backend[],
  ctx: ForwardContext,
): Promise<void> {
  client.on('error', () => {});
  let up: Socket;
  try {
    ({ socket: up } = await connectFirst(backends, ctx));
  } catch {
    client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  up.on('error', () => client.destroy());
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
  // The http server's sockets allow half-open connections, so an ended side would linger: a
  // WebSocket has no use for half-close, so either side ending ends the other and closes both.
  client.on('end', () => up.destroySoon());
  up.on('end', () => client.destroySoon());
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (const [k, v] of forwardedHeaders(req, ctx, true)) lines.push(`${k}: ${v}`);
  up.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) up.write(head);
  up.pipe(client);
  client.pipe(up);
}
