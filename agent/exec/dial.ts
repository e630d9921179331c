/**
 * The node's dial-back for a stream session: a WebSocket to `/agent/v1/stream?session=<id>` with
 * the node credential (the API lets only the pod's node claim the session, once). `ws` is loaded
 * on the first dial, so an agent that never streams never loads it.
 */
import type { WebSocket } from 'ws';

/** One end of the session, as session.ts uses it. */
export interface StreamSocket {
  send(message: Buffer): void;
  close(): void;
  onMessage(listener: (message: Buffer) => void): void;
  onClose(listener: () => void): void;
}

const MAX_MESSAGE_BYTES = 1024 * 1024;
const DIAL_TIMEOUT_MS = 15_000;

/** `ca`: a PEM to trust (tests); the agent trusts what NODE_EXTRA_CA_CERTS names, as for every call. */
export async function dialStream(apiUrl: string, token: string, session: string, ca?: string): Promise<StreamSocket> {
  const { WebSocket } = await import('ws');
  const url = new URL(`/agent/v1/stream?session=${encodeURIComponent(session)}`, apiUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    handshakeTimeout: DIAL_TIMEOUT_MS,
    ...(ca ? { ca } : {}),
  });
  const socket = socketOf(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let message = Buffer.concat(chunks).toString('utf8').slice(0, 300);
        try {
          message = (JSON.parse(message) as { message?: string }).message ?? message;
        } catch {}
        reject(new Error(`dialing stream session: ${res.statusCode} ${message}`));
      });
    });
    ws.once('error', (err) => reject(new Error(`dialing stream session: ${err.message}`)));
  });
  return socket;
}

/** Binary messages in both directions; those that arrive before a listener is set are kept. */
function socketOf(ws: WebSocket): StreamSocket {
  let listener: ((m: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const m = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (listener) listener(m);
    else early.push(m);
  });
  ws.on('error', () => ws.terminate());
  return {
    send(message) {
      if (ws.readyState === ws.OPEN) ws.send(message, { binary: true });
    },
    close() {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    },
    onMessage(l) {
      listener = l;
      for (const m of early.splice(0)) l(m);
    },
    onClose(l) {
      if (ws.readyState === ws.CLOSED) l();
      else ws.on('close', () => l());
    },
  };
}
