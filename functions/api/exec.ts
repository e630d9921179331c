/**
 * `pods/{name}/exec` and `pods/{name}/attach`: what a request asks (its query, checked before
 * anything starts) and the session that splices the client to the pod's node. The node dials back
 * (exec-request.ts, exec-sessions.ts); messages pass through unchanged on the Kubernetes channels
 * (schemas/stream-channels.ts), filtered by direction: a client sends only stdin, resize and close,
 * a node only stdout, stderr and the final status.
 *
 * Query as the API server reads PodExecOptions/PodAttachOptions: `command` repeated (exec),
 * `container`, and the booleans `stdin`, `stdout`, `stderr`, `tty` (Go's ParseBool spellings; absent
 * is false). With a TTY the process' stderr is the terminal, so its output arrives on stdout, as
 * with the kubelet.
 */
import type { StreamRequest } from '../../schemas/agent-protocol';
import { CHANNEL, exitStatus, frame, unframe } from '../../schemas/stream-channels';
import type { Deps } from '../deps';
import { BadRequestError } from '../errors';
import type { Obj } from '../store/types';
import { dialNode, STREAM_DIAL_TIMEOUT_MS, type StreamTarget } from './exec-request';
import type { StreamPeer, StreamSessions } from './exec-sessions';

/** Bounds on hostile input: argv items and their total size (a URL is at most 16 KiB in Node anyway). */
const MAX_ARGS = 1024;
const MAX_ARGV_BYTES = 64 * 1024;
/**
 * What a client may send before the node dials back (stdin piped early, `kubectl cp`'s tar): past
 * this the client is no longer read (TCP backpressure) until the node is there; nothing is dropped.
 */
const MAX_EARLY_BYTES = 1024 * 1024;

export type StreamPlan = StreamTarget & { stream: Omit<StreamRequest, 'session'> };

type PodLike = Obj & {
  spec: { nodeName?: string; containers: { name: string }[]; initContainers?: { name: string }[] };
  status?: { phase?: string };
};

/** The session a request asks for, or a 400 naming what is wrong; nothing is started either way. */
export function planStream(pod: Obj, kind: 'exec' | 'attach', query: URLSearchParams): StreamPlan {
  const p = pod as PodLike;
  const flags = {
    stdin: boolParam(query, 'stdin'),
    stdout: boolParam(query, 'stdout'),
    stderr: boolParam(query, 'stderr'),
    tty: boolParam(query, 'tty'),
  };
  if (!flags.stdin && !flags.stdout && !flags.stderr)
    throw new BadRequestError('you must specify at least 1 of stdin, stdout, stderr');
  const command = query.getAll('command');
  if (kind === 'exec') checkCommand(command);
  else if (command.length > 0) throw new BadRequestError('command: attach takes no command');
  const names = [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => c.name);
  const container = query.get('container') ?? (p.spec.containers.length === 1 ? p.spec.containers[0]?.name : undefined);
  if (container === undefined)
    throw new BadRequestError(
      `a container name must be specified for pod ${p.metadata.name}, choose one of: [${names.join(' ')}]`,
    );
  if (!names.includes(container))
    throw new BadRequestError(`container ${container.slice(0, 253)} is not valid for pod ${p.metadata.name}`);
  const phase = p.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed')
    throw new BadRequestError(`cannot ${kind} into a container in a completed pod; current phase is ${phase}`);
  const nodeName = p.spec.nodeName;
  if (!nodeName) throw new BadRequestError(`pod ${p.metadata.name} is not scheduled to a node yet`);
  return {
    pod,
    nodeName,
    container,
    stream: { kind, ...(kind === 'exec' ? { command } : {}), ...flags, stderr: flags.stderr && !flags.tty },
  };
}

/**
 * Splices `client` to the pod's node until either end closes. A node that does not dial back in
 * time ends the session with a Failure status on the error channel, which kubectl prints.
 */
export async function runStreamSession(
  deps: Deps,
  sessions: StreamSessions,
  plan: StreamPlan,
  client: StreamPeer,
): Promise<void> {
  const gone = new AbortController();
  const early: Buffer[] = [];
  let earlyBytes = 0;
  let agent: StreamPeer | undefined;
  client.onMessage((message) => {
    const f = unframe(message);
    if (!f || !(f.channel === CHANNEL.stdin || f.channel === CHANNEL.resize || f.channel === CHANNEL.close)) return;
    if (agent) return agent.send(message);
    early.push(message);
    earlyBytes += message.length;
    if (earlyBytes > MAX_EARLY_BYTES) client.pause();
  });
  client.onClose(() => {
    gone.abort();
    agent?.close();
  });
  let dialed: StreamPeer | undefined;
  try {
    dialed = await dialNode(deps, sessions, plan, plan.stream, gone.signal);
  } catch (err) {
    deps.log.warn('opening a stream session failed', { pod: plan.pod.metadata.name, error: String(err) });
  }
  if (gone.signal.aborted) {
    dialed?.close();
    return;
  }
  if (!dialed) {
    const why = `node "${plan.nodeName}" did not open the stream within ${STREAM_DIAL_TIMEOUT_MS / 1000}s: is its agent running?`;
    client.send(frame(CHANNEL.error, JSON.stringify(exitStatus(undefined, why))));
    client.close();
    return;
  }
  agent = dialed;
  for (const m of early.splice(0)) agent.send(m);
  client.resume();
  agent.onMessage((message) => {
    const f = unframe(message);
    if (f && (f.channel === CHANNEL.stdout || f.channel === CHANNEL.stderr || f.channel === CHANNEL.error))
      client.send(message);
  });
  agent.onClose(() => client.close());
}

function checkCommand(command: string[]): void {
  if (command.length === 0) throw new BadRequestError('you must specify at least one command for the container');
  if (command.length > MAX_ARGS)
    throw new BadRequestError(`command: at most ${MAX_ARGS} arguments, got ${command.length}`);
  let bytes = 0;
  for (const arg of command) {
    bytes += Buffer.byteLength(arg);
    if (arg.includes('\0')) throw new BadRequestError('command: an argument contains a NUL byte');
  }
  if (bytes > MAX_ARGV_BYTES) throw new BadRequestError(`command: at most ${MAX_ARGV_BYTES} bytes of arguments`);
  if (command[0] === '') throw new BadRequestError('command: the executable is empty');
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool, as the API server decodes these options; absent is false. */
export function boolParam(query: URLSearchParams, name: string): boolean {
  const values = query.getAll(name);
  const raw = values.at(-1);
  if (raw === undefined) return false;
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw new BadRequestError(`${name}: must be true or false, got ${JSON.stringify(raw.slice(0, 40))}`);
}

/**
 * A plain request to `pods/{name}/exec|attach|portforward` (no upgrade: reached the API core): a
 * 400 saying why. On Lambda every such request ends here, since API Gateway's HTTP API holds no
 * connection open between the client and a function.
 */
export function refuseWithoutUpgrade(holdsConnections: boolean, subresource: string): never {
  if (!holdsConnections)
    throw new BadRequestError(
      `pods/${subresource} needs a connection the server holds open, and ferry on AWS Lambda cannot hold one (API Gateway's HTTP API ends each request): use a control plane run by \`ferry server\``,
    );
  throw new BadRequestError(
    subresource === 'portforward'
      ? PORT_FORWARD_UNSUPPORTED
      : `Upgrade request required: pods/${subresource} is served over a WebSocket (v5.channel.k8s.io) or SPDY/3.1`,
  );
}

/** kubectl port-forward speaks SPDY/3.1, upgraded to directly or tunnelled in a WebSocket (1.31+). */
export const PORT_FORWARD_UNSUPPORTED =
  'Upgrade request required: pods/portforward is served over SPDY/3.1 (portforward.k8s.io) or a WebSocket tunnelling it (SPDY/3.1+portforward.k8s.io), as kubectl port-forward opens it';
