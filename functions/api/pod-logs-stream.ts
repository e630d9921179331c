/**
 * `GET .../pods/{name}/log` with `follow`, `sinceSeconds`, `sinceTime` or `timestamps`: the
 * container's output streamed from its node over a dial-back session (exec-request.ts), since the
 * snapshot relay (pod-logs.ts) keeps no timestamps and ends at once. The node reads Docker's log
 * with the same options (`since`, `timestamps`, `tail`, `follow`), so each means what it means to
 * the kubelet; a follow ends when the container stops or the client goes away.
 *
 * The node answers first with an empty stdout message (it found the container) or a Failure
 * Status on the error channel (no such container, not running...), so a refusal is an HTTP 400
 * as with the snapshot, and the 200 head goes out only once output can follow.
 */
import type { StreamRequest } from '../../schemas/agent-protocol';
import { CHANNEL, unframe } from '../../schemas/stream-channels';
import type { Deps } from '../deps';
import { BadRequestError, TimeoutError } from '../errors';
import { dialNode, STREAM_DIAL_TIMEOUT_MS, type StreamTarget } from './exec-request';
import type { StreamPeer, StreamSessions } from './exec-sessions';
import type { ApiResponse } from './types';

export type LogStreamOptions = Pick<
  StreamRequest,
  'follow' | 'sinceSeconds' | 'sinceTime' | 'timestamps' | 'limitBytes' | 'tailLines' | 'previous'
>;

export async function streamLogs(
  deps: Deps,
  sessions: StreamSessions | undefined,
  target: StreamTarget,
  options: LogStreamOptions,
  signal?: AbortSignal,
): Promise<ApiResponse> {
  if (!sessions)
    throw new BadRequestError(
      'follow, since and timestamps need a connection the server holds open, and ferry on AWS Lambda cannot hold one (API Gateway answers within 29 s): use --tail, or a control plane run by `ferry server`',
    );
  if (options.previous && (options.sinceSeconds !== undefined || options.sinceTime !== undefined || options.timestamps))
    throw new BadRequestError(
      'previous with since or timestamps: not supported by ferry (the node keeps only the text of exited instances)',
    );
  const stream: Omit<StreamRequest, 'session'> = {
    kind: 'logs',
    stdin: false,
    stdout: true,
    stderr: true,
    tty: false,
    ...options,
  };
  const agent = await dialNode(deps, sessions, target, stream, signal);
  if (!agent)
    throw new TimeoutError(
      `node "${target.nodeName}" did not open the log stream of pod ${target.pod.metadata.name} within ${STREAM_DIAL_TIMEOUT_MS / 1000}s: is its agent running?`,
    );
  const output = new Output(agent);
  const error = await output.ready();
  if (error !== undefined) {
    agent.close();
    throw new BadRequestError(error);
  }
  return {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: '',
    stream: (write, gone) => {
      const finish = () => agent.close();
      gone.addEventListener('abort', finish, { once: true });
      if (gone.aborted) finish();
      return output.pipe(write).finally(() => gone.removeEventListener('abort', finish));
    },
  };
}

/**
 * The node's messages from the first on, kept until they are written: its first word says ready
 * (an empty stdout message) or why not (a Status on the error channel); output follows.
 */
class Output {
  private readonly queue: Buffer[] = [];
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(agent: StreamPeer) {
    agent.onMessage((m) => {
      const f = unframe(m);
      if (!f) return;
      if (f.channel === CHANNEL.error || f.channel === CHANNEL.stdout || f.channel === CHANNEL.stderr) {
        this.queue.push(m);
        this.wake?.();
      }
    });
    agent.onClose(() => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Undefined once the node is ready (or closed without a word); else its error message. */
  async ready(): Promise<string | undefined> {
    while (this.queue.length === 0 && !this.closed) await this.next();
    const first = this.queue[0];
    if (!first || first[0] !== CHANNEL.error) return undefined;
    this.queue.shift();
    try {
      const status = JSON.parse(first.subarray(1).toString('utf8')) as { message?: string };
      return (status.message ?? 'the node refused the log stream').slice(0, 1024);
    } catch {
      return 'the node refused the log stream';
    }
  }

  /** Writes stdout and stderr as they come, until the node closes. */
  async pipe(write: (chunk: Uint8Array) => void): Promise<void> {
    for (;;) {
      for (const m of this.queue.splice(0)) if (m[0] !== CHANNEL.error && m.length > 1) write(m.subarray(1));
      if (this.closed) return;
      await this.next();
    }
  }

  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }
}
