/**
 * `kubectl port-forward` over SPDY/3.1 (`portforward.k8s.io`, spdy.ts): for each connection
 * kubectl makes locally it opens two streams, `streamType: error` and `streamType: data`, with the
 * same `requestID` and the pod `port`; ferry answers each SYN_STREAM, and for each data stream
 * opens a stream session to the pod's node (functions/api/exec-request.ts, kind `portforward`), whose
 * agent connects to the pod's IP at that port. Bytes pass through unchanged on the session's
 * stdin/stdout channels; the node's error (connection refused ...) is written on the error stream,
 * which kubectl prints. The end of either side's data is passed on as a half-close.
 */
import type { Duplex } from 'node:stream';
import { CHANNEL, frame, unframe } from '../../schemas/stream-channels';
import type { StreamTarget } from '../api/exec-request';
import { dialNode } from '../api/exec-request';
import type { StreamPeer, StreamSessions } from '../api/exec-sessions';
import type { Deps } from '../deps';
import {
  dataFrame,
  FLAG_FIN,
  FrameReader,
  goAwayFrame,
  HeaderCodec,
  parseSynStream,
  pingFrame,
  RST,
  rstStreamFrame,
  synReplyFrame,
  TYPE,
} from './spdy';

/** Forwarded connections at once on one kubectl port-forward (each is a node session). */
const MAX_PAIRS = 64;
/** Bytes from kubectl kept for a connection whose node has not dialed back yet. */
const MAX_EARLY_BYTES = 1024 * 1024;

interface Pair {
  port: number;
  errorStream?: number;
  dataStream?: number;
  agent?: StreamPeer;
  early: Buffer[];
  earlyBytes: number;
  inputEnded: boolean;
  closed: boolean;
}

export function servePortForward(deps: Deps, sessions: StreamSessions, target: StreamTarget, socket: Duplex): void {
  const reader = new FrameReader();
  const codec = new HeaderCodec();
  const pairs = new Map<string, Pair>();
  const byStream = new Map<number, Pair>();
  let lastStream = 0;
  let work = Promise.resolve();
  const write = (b: Buffer) => {
    if (!socket.destroyed) socket.write(b);
  };
  const end = () => {
    for (const p of pairs.values()) closePair(p);
    codec.close();
    if (!socket.destroyed) socket.end(goAwayFrame(lastStream));
  };

  const closePair = (p: Pair) => {
    if (p.closed) return;
    p.closed = true;
    p.agent?.close();
    if (p.dataStream !== undefined) write(dataFrame(p.dataStream, Buffer.alloc(0), true));
    if (p.errorStream !== undefined) write(dataFrame(p.errorStream, Buffer.alloc(0), true));
  };

  const fail = (p: Pair, message: string) => {
    if (p.errorStream !== undefined && !p.closed) write(dataFrame(p.errorStream, Buffer.from(message)));
    closePair(p);
  };

  const open = async (p: Pair) => {
    let agent: StreamPeer | undefined;
    try {
      agent = await dialNode(deps, sessions, target, {
        kind: 'portforward',
        port: p.port,
        stdin: true,
        stdout: true,
        stderr: false,
        tty: false,
      });
    } catch (err) {
      deps.log.warn('opening a port-forward session failed', { pod: target.pod.metadata.name, error: String(err) });
    }
    if (p.closed) return agent?.close();
    if (!agent) return fail(p, `node "${target.nodeName}" did not open the port-forward stream: is its agent running?`);
    p.agent = agent;
    for (const m of p.early.splice(0)) agent.send(m);
    if (p.inputEnded) agent.send(frame(CHANNEL.close, Buffer.from([CHANNEL.stdin])));
    socket.resume();
    agent.onMessage((m) => {
      const f = unframe(m);
      if (!f || p.closed) return;
      if (f.channel === CHANNEL.stdout && p.dataStream !== undefined && f.data.length > 0)
        write(dataFrame(p.dataStream, f.data));
      else if (f.channel === CHANNEL.error) fail(p, f.data.toString('utf8'));
    });
    agent.onClose(() => closePair(p));
  };

  const onSynStream = async (data: Buffer) => {
    const { streamId, block } = parseSynStream(data);
    lastStream = Math.max(lastStream, streamId);
    const headers = await codec.decode(block);
    const type = headers.get('streamtype');
    const port = Number(headers.get('port'));
    const requestId = headers.get('requestid') ?? '';
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) {
      write(rstStreamFrame(streamId, RST.protocolError));
      return;
    }
    let p = pairs.get(requestId);
    if (!p) {
      if (pairs.size >= MAX_PAIRS) return write(rstStreamFrame(streamId, RST.refusedStream));
      p = { port, early: [], earlyBytes: 0, inputEnded: false, closed: false };
      pairs.set(requestId, p);
    }
    write(synReplyFrame(streamId, await codec.encode({})));
    byStream.set(streamId, p);
    if (type === 'error') p.errorStream = streamId;
    else {
      p.dataStream = streamId;
      void open(p);
    }
  };

  const onData = (streamId: number, flags: number, data: Buffer) => {
    const p = byStream.get(streamId);
    if (!p || p.closed || streamId !== p.dataStream) return; // the error stream carries nothing from kubectl
    const fin = (flags & FLAG_FIN) !== 0;
    const messages = [
      ...(data.length > 0 ? [frame(CHANNEL.stdin, data)] : []),
      ...(fin ? [frame(CHANNEL.close, Buffer.from([CHANNEL.stdin]))] : []),
    ];
    if (p.agent) for (const m of messages) p.agent.send(m);
    else {
      if (data.length > 0) p.early.push(frame(CHANNEL.stdin, data));
      p.earlyBytes += data.length;
      if (fin) p.inputEnded = true;
      if (p.earlyBytes > MAX_EARLY_BYTES) socket.pause();
    }
  };

  const handle = async (f: ReturnType<FrameReader['push']>[number]) => {
    if (!f.control) return onData(f.streamId, f.flags, f.data);
    switch (f.type) {
      case TYPE.synStream:
        return onSynStream(f.data);
      case TYPE.rstStream: {
        const p = byStream.get(f.data.readUInt32BE(0) & 0x7fffffff);
        if (p) closePair(p);
        return;
      }
      case TYPE.ping:
        return write(pingFrame(f.data));
      case TYPE.goAway:
        return end();
      default:
        // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control, as kubectl's own library).
        return;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    let frames: ReturnType<FrameReader['push']>;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      deps.log.warn('port-forward: bad SPDY input', { error: String(err) });
      socket.destroy();
      return;
    }
    // In order: a header block must be decoded before the next (one zlib stream).
    for (const f of frames)
      work = work
        .then(() => handle(f))
        .catch(() => {
          socket.destroy();
        });
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    for (const p of pairs.values()) {
      p.closed = true;
      p.agent?.close();
    }
    codec.close();
  });
}
