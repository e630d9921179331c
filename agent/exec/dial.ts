/**
 * The node's dial-back for a stream session: a WebSocket to `/agent/v1/stream?session=<id>` with
 * the node credential (the API lets only the pod's node claim the session, once). `ws` is loaded
 * on the first dial, so an agent that never streams never loads it.
 */
import { type MessagePeer, messagePeerOf } from '../../schemas/message-peer';

/** One end of the session, as session.ts uses it: the message pipe the server's end is too. */
export type StreamSocket = MessagePeer;

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
  const socket = messagePeerOf(ws);
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
