/**
 * exec and attach over SPDY/3.1 (`v4.channel.k8s.io`), as kubectl before 1.30 speaks them and
 * 1.30 does with `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`: the client opens one stream per
 * channel (`streamType` error, stdin, stdout, stderr, resize), and once those the request asks for
 * are open the session runs exactly as over a WebSocket (functions/api/exec.ts), this file
 * translating: stdin's data and its end, resize's JSON lines in; stdout, stderr and the closing
 * Status out on their streams.
 */
import type { Duplex } from 'node:stream';
import { CHANNEL, frame, unframe } from '../../schemas/stream-channels';
import { runStreamSession, type StreamPlan } from '../api/exec';
import type { StreamPeer, StreamSessions } from '../api/exec-sessions';
import type { Deps } from '../deps';
import { SpdyConnection } from './spdy-connection';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const TYPES: readonly string[] = ['error', 'stdin', 'stdout', 'stderr', 'resize'];
/** Streams the client opens before the session starts: it opens them one by one. */
const STREAMS_TIMEOUT_MS = 30_000;

export function serveSpdyExec(deps: Deps, sessions: StreamSessions, plan: StreamPlan, socket: Duplex): void {
  const s = plan.stream;
  const expected = new Set<StreamType>([
    'error',
    ...(s.stdin ? (['stdin'] as const) : []),
    ...(s.stdout ? (['stdout'] as const) : []),
    ...(s.stderr ? (['stderr'] as const) : []),
    ...(s.tty ? (['resize'] as const) : []),
  ]);
  const streams = new Map<StreamType, number>();
  const typeOf = new Map<number, StreamType>();
  let listener: ((m: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  const closeListeners: (() => void)[] = [];
  let resizeText = '';
  let started = false;
  let ended = false;

  const toSession = (m: Buffer) => (listener ? listener(m) : early.push(m));
  const peer: StreamPeer = {
    send(message) {
      const f = unframe(message);
      const type =
        f &&
        (f.channel === CHANNEL.stdout
          ? 'stdout'
          : f.channel === CHANNEL.stderr
            ? 'stderr'
            : f.channel === CHANNEL.error
              ? 'error'
              : undefined);
      const id = type && streams.get(type);
      if (f && id !== undefined) conn.send(id, f.data);
    },
    close() {
      if (ended) return;
      ended = true;
      for (const id of streams.values()) conn.finish(id);
      conn.close();
    },
    onMessage(l) {
      listener = l;
      for (const m of early.splice(0)) l(m);
    },
    onClose(l) {
      closeListeners.push(l);
    },
    pause: () => conn.pause(),
    resume: () => conn.resume(),
  };

  const timer = setTimeout(() => {
    if (!started) peer.close();
  }, STREAMS_TIMEOUT_MS);
  timer.unref?.();

  const conn: SpdyConnection = new SpdyConnection(
    socket,
    {
      onStream(streamId, headers) {
        const type = headers.get('streamtype') ?? '';
        if (!TYPES.includes(type) || streams.has(type as StreamType) || !expected.has(type as StreamType)) return false;
        streams.set(type as StreamType, streamId);
        typeOf.set(streamId, type as StreamType);
        if (!started && [...expected].every((t) => streams.has(t))) {
          started = true;
          clearTimeout(timer);
          void runStreamSession(deps, sessions, plan, peer);
        }
        return true;
      },
      onData(streamId, data, fin) {
        const type = typeOf.get(streamId);
        if (type === 'stdin') {
          if (data.length > 0) toSession(frame(CHANNEL.stdin, data));
          if (fin) toSession(frame(CHANNEL.close, Buffer.from([CHANNEL.stdin])));
        } else if (type === 'resize') {
          // JSON objects, one a line (Go's json.Encoder); each passed on as a resize message.
          resizeText = (resizeText + data.toString('utf8')).slice(-4096);
          const lines = resizeText.split('\n');
          resizeText = lines.pop() ?? '';
          for (const line of lines) if (line.trim()) toSession(frame(CHANNEL.resize, line.trim()));
        }
      },
      onReset() {
        peer.close();
      },
      onClose() {
        clearTimeout(timer);
        for (const l of closeListeners.splice(0)) l();
      },
    },
    (err) => deps.log.warn('exec over SPDY: bad input', { error: String(err) }),
  );
}
