/**
 * `kubectl port-forward` over SPDY/3.1 (`portforward.k8s.io`, spdy-connection.ts): for each
 * connection kubectl makes locally it opens two streams, `streamType: error` and `streamType: data`,
 * with the same `requestID` and the pod `port`; for each data stream ferry opens a stream session
 * to the pod's node (functions/api/exec-request.ts, kind `portforward`), whose agent connects to
 * the pod's IP at that port. Bytes pass through unchanged on the session's stdin/stdout channels;
 * the node's error (connection refused ...) is written on the error stream, which kubectl prints.
 * The end of either side's data is passed on as a half-close. A connection kubectl resets, or
 * the whole port-forward going away, cancels its session at once: its request is deleted and a
 * late dial-back is refused, instead of both waiting out the dial timeout.
 */
import type { Duplex } from 'node:stream';
import { CHANNEL, frame, unframe } from '../../schemas/stream-channels';
import { dialNode, type StreamTarget } from '../api/exec-request';
import type { StreamPeer, StreamSessions } from '../api/exec-sessions';
import type { Deps } from '../deps';
import { SpdyConnection } from './spdy-connection';

/** Forwarded connections at once on one kubectl port-forward (each is a node session). */
const MAX_PAIRS = 64;
/** Bytes from kubectl kept for a connection whose node has not dialed back yet. */
const MAX_EARLY_BYTES = 1024 * 1024;

interface Pair {
  requestId: string;
  port: number;
  errorStream?: number;
  dataStream?: number;
  agent?: StreamPeer;
  early: Buffer[];
  earlyBytes: number;
  inputEnded: boolean;
  closed: boolean;
  /** Aborted when the pair closes: cancels its session while the node has not dialed back. */
  gone: AbortController;
}

export function servePortForward(deps: Deps, sessions: StreamSessions, target: StreamTarget, socket: Duplex): void {
  const pairs = new Map<string, Pair>();
  const byStream = new Map<number, Pair>();

  const closePair = (p: Pair) => {
    if (p.closed) return;
    p.closed = true;
    p.gone.abort();
    // Forgotten at once: a long port-forward makes one pair per connection, MAX_PAIRS at a time.
    pairs.delete(p.requestId);
    for (const id of [p.dataStream, p.errorStream]) if (id !== undefined) byStream.delete(id);
    p.agent?.close();
    if (p.dataStream !== undefined) conn.finish(p.dataStream);
    if (p.errorStream !== undefined) conn.finish(p.errorStream);
  };

  const fail = (p: Pair, message: string) => {
    if (p.errorStream !== undefined && !p.closed) conn.send(p.errorStream, Buffer.from(message));
    closePair(p);
  };

  const open = async (p: Pair) => {
    let agent: StreamPeer | undefined;
    try {
      agent = await dialNode(
        deps,
        sessions,
        target,
        { kind: 'portforward', port: p.port, stdin: true, stdout: true, stderr: false, tty: false },
        p.gone.signal,
      );
    } catch (err) {
      deps.log.warn('opening a port-forward session failed', { pod: target.pod.metadata.name, error: String(err) });
    }
    if (p.closed) return agent?.close();
    if (!agent) return fail(p, `node "${target.nodeName}" did not open the port-forward stream: is its agent running?`);
    p.agent = agent;
    for (const m of p.early.splice(0)) agent.send(m);
    if (p.inputEnded) agent.send(frame(CHANNEL.close, Buffer.from([CHANNEL.stdin])));
    conn.resume();
    agent.onMessage((m) => {
      const f = unframe(m);
      if (!f || p.closed) return;
      if (f.channel === CHANNEL.stdout && p.dataStream !== undefined) conn.send(p.dataStream, f.data);
      else if (f.channel === CHANNEL.error) fail(p, f.data.toString('utf8'));
    });
    agent.onClose(() => closePair(p));
  };

  const conn: SpdyConnection = new SpdyConnection(
    socket,
    {
      onStream(streamId, headers) {
        const type = headers.get('streamtype');
        const port = Number(headers.get('port'));
        const requestId = headers.get('requestid') ?? '';
        if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) return false;
        let p = pairs.get(requestId);
        if (!p) {
          if (pairs.size >= MAX_PAIRS) return false;
          p = {
            requestId,
            port,
            early: [],
            earlyBytes: 0,
            inputEnded: false,
            closed: false,
            gone: new AbortController(),
          };
          pairs.set(requestId, p);
        }
        byStream.set(streamId, p);
        if (type === 'error') p.errorStream = streamId;
        else {
          p.dataStream = streamId;
          void open(p);
        }
        return true;
      },
      onData(streamId, data, fin) {
        const p = byStream.get(streamId);
        // The error stream carries nothing from kubectl (it closes its side at once).
        if (!p || p.closed || streamId !== p.dataStream) return;
        const messages = [
          ...(data.length > 0 ? [frame(CHANNEL.stdin, data)] : []),
          ...(fin ? [frame(CHANNEL.close, Buffer.from([CHANNEL.stdin]))] : []),
        ];
        if (p.agent) for (const m of messages) p.agent.send(m);
        else {
          if (data.length > 0) p.early.push(frame(CHANNEL.stdin, data));
          p.earlyBytes += data.length;
          if (fin) p.inputEnded = true;
          if (p.earlyBytes > MAX_EARLY_BYTES) conn.pause();
        }
      },
      onReset(streamId) {
        const p = byStream.get(streamId);
        if (p) closePair(p);
      },
      onClose() {
        for (const p of [...pairs.values()]) closePair(p);
      },
    },
    (err) => deps.log.warn('port-forward: bad SPDY input', { error: String(err) }),
  );
}
