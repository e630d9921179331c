/**
 * node:http's `upgrade` event for the local server: kubectl's exec/attach WebSockets, its
 * port-forward's SPDY/3.1 (port-forward.ts), bare or tunnelled in a WebSocket (kubectl 1.31+:
 * the WebSocket becomes the byte stream SPDY runs over), and the nodes' dial-backs for them (`/agent/v1/stream`). The API core decides (functions/api/exec-open.ts:
 * 401/403/404/400 answered as HTTP, before the connection is taken over); this file only does the
 * WebSocket handshake with `ws` and adapts each socket to a StreamPeer. Any other upgrade is
 * answered 400 rather than dropped.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws';
import { messagePeerOf } from '../../schemas/message-peer';
import { runStreamSession } from '../api/exec';
import { openUpgrade } from '../api/exec-open';
import type { StreamSessions } from '../api/exec-sessions';
import { errorResponse } from '../api/http-errors';
import type { ApiDeps } from '../api/types';
import { apiRequestHead } from './api-request';
import { servePortForward } from './port-forward';
import { serveSpdyExec } from './spdy-exec';

/** The largest message either end may send (a client's stdin chunk, a node's output chunk). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface UpgradeHandler {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every open session (the server is closing). */
  close(): void;
}

export function createUpgradeHandler(deps: ApiDeps & { streams: StreamSessions }): UpgradeHandler {
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => chosen.get(req) ?? false,
  });
  const open = new Set<WebSocket>();
  /** SPDY connections (port-forward, exec from older clients): node:http no longer tracks an upgraded socket. */
  const spdy = new Set<Duplex>();
  return {
    handle(req, socket, head) {
      socket.on('error', () => undefined);
      const apiReq = apiRequestHead(req);
      openUpgrade(deps, apiReq).then(
        (target) => {
          if ((target.kind === 'portforward' && !target.tunnel) || target.kind === 'spdy') {
            if (head.length > 0) socket.unshift(head);
            const protocol = target.kind === 'spdy' ? 'v4.channel.k8s.io' : 'portforward.k8s.io';
            socket.write(
              `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
            );
            spdy.add(socket);
            socket.on('close', () => spdy.delete(socket));
            if (target.kind === 'spdy') serveSpdyExec(deps, deps.streams, target.plan, socket);
            else servePortForward(deps, deps.streams, target.target, socket);
            return;
          }
          if (target.kind === 'client') chosen.set(req, target.protocol);
          if (target.kind === 'portforward' && target.tunnel) {
            // `SPDY/3.1+portforward.k8s.io` is not an RFC 7230 token ('/'), so `ws` would refuse the
            // header: it is given a token to parse, and the answer names the subprotocol as offered.
            chosen.set(req, target.tunnel);
            req.headers['sec-websocket-protocol'] = 'portforward.k8s.io';
          }
          wss.handleUpgrade(req, socket, head, (ws) => {
            open.add(ws);
            ws.on('close', () => open.delete(ws));
            if (target.kind === 'portforward') return servePortForward(deps, deps.streams, target.target, tunnelOf(ws));
            // The node's dial-back adapts its end with the same (schemas/message-peer.ts).
            const peer = messagePeerOf(ws);
            if (target.kind === 'agent') target.deliver(peer);
            else void runStreamSession(deps, deps.streams, target.plan, peer);
          });
        },
        (err) => refuse(socket, errorResponse(err, deps.log, { method: apiReq.method, path: apiReq.path })),
      );
    },
    close() {
      deps.streams.closeAll();
      for (const ws of open) ws.terminate();
      for (const socket of spdy) socket.destroy();
    },
  };
}

/**
 * The WebSocket as the byte stream kubectl's SPDY runs over: each binary message is bytes of it,
 * each write one message (client-go's TunnelingConnection). Its end ends the WebSocket.
 */
function tunnelOf(ws: WebSocket): Duplex {
  const stream = createWebSocketStream(ws);
  stream.on('error', () => ws.terminate());
  return stream;
}

/** An HTTP answer instead of the handshake (kubectl shows the Status it carries), then the socket closes. */
function refuse(socket: Duplex, res: { status: number; headers: Record<string, string>; body: string }): void {
  if (socket.destroyed) return;
  const head = [
    `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`,
    ...Object.entries({
      ...res.headers,
      'content-length': String(Buffer.byteLength(res.body)),
      connection: 'close',
    }).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${res.body}`);
}
