/**
 * Runs one stream session on the node: kubectl exec, attach, or a streamed log, between the
 * runtime's stream methods and the dial-back socket, on the Kubernetes channels
 * (schemas/stream-channels.ts). Decides first (which container instance, whether it can be
 * streamed at all), then acts; every refusal is a Failure Status on the error channel, which
 * kubectl prints, and the socket closes.
 *
 * exec/attach end with the process' Status (ExitCode cause when non-zero). A log session first
 * sends an empty stdout message (ready: the API answers 200) and then the output; it ends when
 * the container stops (follow), when the log is read (no follow), at `limitBytes`, or when the
 * client goes away.
 */

import { connect } from 'node:net';
import type { LogRequestRef, StreamRequest } from '../../schemas/agent-protocol';
import { CHANNEL, exitStatus, frame, parseResize, unframe } from '../../schemas/stream-channels';
import type { PodRecord } from '../pods/record';
import { tailOf } from '../runtime/log-tail';
import type { ContainerRuntime, OutputListener, StdioStream } from '../runtime/types';
import type { StreamSocket } from './dial';

/** What the session needs of the pod manager's record of the container. */
export interface StreamContainer {
  /** The running instance's runtime id; absent when none runs. */
  id?: string;
  running: boolean;
  /** Output of the last exited instances, newest first. */
  exitedLogs?: string[];
}

export type StreamRequestRef = LogRequestRef & { stream: StreamRequest };

export async function runSession(
  runtime: ContainerRuntime,
  container: StreamContainer | undefined,
  req: StreamRequestRef,
  socket: StreamSocket,
): Promise<void> {
  const s = req.stream;
  const who = `container "${req.container}" in pod "${req.pod.name}"`;
  const fail = (message: string) => {
    socket.send(frame(CHANNEL.error, JSON.stringify(exitStatus(undefined, message))));
    socket.close();
  };
  if (s.kind === 'logs') return logSession(runtime, container, s, socket, who, fail);
  if (!container?.id || !container.running) return fail(`${who} is not running`);
  let ended = false;
  const send: OutputListener = (channel, data) => {
    if (!ended) socket.send(frame(channel, data));
  };
  const options = { stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, tty: s.tty };
  let io: StdioStream;
  try {
    io =
      s.kind === 'exec'
        ? await runtime.execStream(container.id, s.command ?? [], options, send)
        : await runtime.attachStream(container.id, options, send);
  } catch (err) {
    return fail(`${s.kind === 'exec' ? 'starting the command' : 'attaching'} in ${who}: ${(err as Error).message}`);
  }
  socket.onMessage((m) => {
    const f = unframe(m);
    if (!f) return;
    if (f.channel === CHANNEL.stdin && s.stdin) io.write(f.data);
    else if (f.channel === CHANNEL.close && f.data[0] === CHANNEL.stdin) io.endInput();
    else if (f.channel === CHANNEL.resize && s.tty) {
      const size = parseResize(f.data);
      if (size) void io.resize(size.width, size.height);
    }
  });
  socket.onClose(() => {
    ended = true;
    io.close();
  });
  const code = await io.done;
  if (ended) return;
  ended = true;
  socket.send(frame(CHANNEL.error, JSON.stringify(exitStatus(code))));
  socket.close();
}

async function logSession(
  runtime: ContainerRuntime,
  container: StreamContainer | undefined,
  s: StreamRequest,
  socket: StreamSocket,
  who: string,
  fail: (message: string) => void,
): Promise<void> {
  if (!container) return fail(`${who} is waiting to start`);
  const timed = s.timestamps === true || s.sinceSeconds !== undefined || s.sinceTime !== undefined;
  let left = s.limitBytes ?? Number.POSITIVE_INFINITY;
  let io: StdioStream | undefined;
  let closed = false;
  const send = (data: Buffer) => {
    if (closed || left <= 0) return;
    const part = data.length > left ? data.subarray(0, left) : data;
    left -= part.length;
    socket.send(frame(CHANNEL.stdout, part));
    if (left <= 0) finish();
  };
  const finish = () => {
    if (closed) return;
    closed = true;
    io?.close();
    socket.close();
  };
  // A kept text (an exited instance's) has no timestamps: since and timestamps need the runtime's log.
  const kept = s.previous
    ? container.exitedLogs?.[container.id ? 0 : 1]
    : container.id
      ? undefined
      : container.exitedLogs?.[0];
  if (s.previous || !container.id) {
    if (kept === undefined)
      return fail(s.previous ? `previous terminated ${who} not found` : `${who} is waiting to start`);
    if (timed) return fail(`${who} has exited: since and timestamps need its running instance's log`);
    socket.send(frame(CHANNEL.stdout));
    send(
      Buffer.from(
        s.tailLines === undefined
          ? kept
          : tailOf(kept, { tailLines: s.tailLines, limitBytes: Number.MAX_SAFE_INTEGER }),
      ),
    );
    return finish();
  }
  socket.onClose(() => {
    closed = true;
    io?.close();
  });
  try {
    io = await runtime.logStream(
      container.id,
      {
        follow: s.follow === true,
        timestamps: s.timestamps === true,
        ...(s.tailLines !== undefined ? { tailLines: s.tailLines } : {}),
        ...(sinceOf(s) !== undefined ? { since: sinceOf(s) as number } : {}),
      },
      (_channel, data) => send(data),
    );
  } catch (err) {
    return fail(`reading the output of ${who}: ${(err as Error).message}`);
  }
  if (closed) return io.close();
  socket.send(frame(CHANNEL.stdout));
  await io.done;
  finish();
}

/** Dials back and runs the session on the pod the pod manager holds (its record, if any). */
export async function streamSession(
  runtime: ContainerRuntime,
  rec: PodRecord | undefined,
  req: StreamRequestRef,
  dial: (session: string) => Promise<StreamSocket>,
): Promise<void> {
  const socket = await dial(req.stream.session);
  if (req.stream.kind === 'portforward') return forwardPort(rec?.sandbox?.podIp, req, socket);
  const c = rec?.containers.get(req.container);
  const container = c && {
    ...(c.id ? { id: c.id } : {}),
    running: c.id !== undefined && 'running' in c.state,
    ...(c.exitedLogs ? { exitedLogs: c.exitedLogs } : {}),
  };
  await runSession(runtime, container, req, socket);
}

/**
 * kubectl port-forward's connection: TCP to the pod's IP at the port, bytes both ways, either
 * side's end passed on as a half-close. A refused connection is the error channel's text, which
 * kubectl prints (`an error occurred forwarding 8080 -> 80: ...`). The pod's IP rather than its
 * loopback: a server listening only on 127.0.0.1 inside the pod is not reached.
 */
export function forwardPort(podIp: string | undefined, req: StreamRequestRef, socket: StreamSocket): Promise<void> {
  const port = req.stream.port ?? 0;
  const what = `forwarding port ${port} to pod ${req.pod.name}`;
  return new Promise((resolve) => {
    if (!podIp) {
      socket.send(frame(CHANNEL.error, `error ${what}: the pod has no IP on this node yet`));
      socket.close();
      return resolve();
    }
    const tcp = connect({ host: podIp, port });
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      tcp.destroy();
      socket.close();
      resolve();
    };
    tcp.on('data', (d: Buffer) => socket.send(frame(CHANNEL.stdout, d)));
    tcp.on('end', finish);
    tcp.on('close', finish);
    tcp.on('error', (err) => {
      socket.send(frame(CHANNEL.error, `error ${what}: ${err.message}`));
      finish();
    });
    socket.onMessage((m) => {
      const f = unframe(m);
      if (!f) return;
      if (f.channel === CHANNEL.stdin) tcp.write(f.data);
      else if (f.channel === CHANNEL.close && f.data[0] === CHANNEL.stdin) tcp.end();
    });
    socket.onClose(finish);
  });
}

/** Unix seconds to read from: `sinceTime`, or `sinceSeconds` ago by this node's clock (the kubelet's reading). */
function sinceOf(s: StreamRequest): number | undefined {
  if (s.sinceTime !== undefined) return Date.parse(s.sinceTime) / 1000;
  if (s.sinceSeconds !== undefined) return Date.now() / 1000 - s.sinceSeconds;
  return undefined;
}
