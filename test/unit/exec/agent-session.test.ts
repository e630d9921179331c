/**
 * The node's side of a stream session (agent/exec/session.ts) over the fake runtime: what it runs,
 * what reaches the client on which channel, how input, a terminal's size and the client's leaving
 * are passed on, and every refusal as a Failure Status.
 */
import { describe, expect, it } from 'vitest';
import type { StreamSocket } from '../../../agent/exec/dial';
import { runSession, type StreamRequestRef } from '../../../agent/exec/session';
import { FakeRuntime } from '../../../agent/runtime/fake';
import type { StreamRequest } from '../../../schemas/agent-protocol';
import { CHANNEL, frame } from '../../../schemas/stream-channels';

/** The client's view of the socket: what it received, and a way to send to the node. */
function socketPair() {
  const received: [number, string][] = [];
  let toNode: ((m: Buffer) => void) | undefined;
  let closeListener: (() => void) | undefined;
  let closed = false;
  const socket: StreamSocket = {
    send: (m) => {
      if (!closed) received.push([m[0] as number, m.subarray(1).toString()]);
    },
    close: () => {
      closed = true;
    },
    onMessage: (l) => {
      toNode = l;
    },
    onClose: (l) => {
      closeListener = l;
    },
    pause: () => undefined,
    resume: () => undefined,
  };
  return {
    socket,
    received,
    isClosed: () => closed,
    send: (channel: number, data: string | Buffer) => toNode?.(frame(channel, data)),
    leave: () => {
      closed = true;
      closeListener?.();
    },
  };
}

function request(stream: Partial<StreamRequest>): StreamRequestRef {
  return {
    namespace: 'default',
    name: 'web.abc',
    pod: { namespace: 'default', name: 'web', uid: 'u1' },
    container: 'app',
    previous: false,
    tailLines: 0,
    limitBytes: 0,
    stream: { session: 's', kind: 'exec', stdin: false, stdout: true, stderr: true, tty: false, ...stream },
  };
}

async function running(runtime: FakeRuntime): Promise<string> {
  return runtime.startContainer({ uid: 'u1', name: 'web', namespace: 'default' }, 'sb', {
    name: 'app',
    image: 'busybox',
    env: [],
    mounts: [],
    specHash: 'h',
    restartCount: 0,
    security: {},
  });
}

const statusOf = (received: [number, string][]) =>
  JSON.parse(received.find(([c]) => c === CHANNEL.error)?.[1] ?? '{}') as {
    status?: string;
    message?: string;
    details?: unknown;
  };

describe("the node's stream session", () => {
  it('runs the command and ends with its exit code on the error channel', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    const pair = socketPair();

    // act
    await runSession(runtime, { id, running: true }, request({ command: ['sh', '-c', 'exit 3'] }), pair.socket);

    // assess
    expect(statusOf(pair.received)).toMatchObject({
      status: 'Failure',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(pair.isClosed()).toBe(true);
  });

  it('passes stdin to the process and ends its input at the v5 close signal', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    const pair = socketPair();

    // act
    const done = runSession(runtime, { id, running: true }, request({ command: ['cat'], stdin: true }), pair.socket);
    await new Promise((r) => setTimeout(r, 10));
    pair.send(CHANNEL.stdin, 'one\n');
    pair.send(CHANNEL.close, Buffer.from([CHANNEL.stdin]));
    await done;

    // assess
    expect(pair.received).toEqual([
      [CHANNEL.stdout, 'one\n'],
      [CHANNEL.error, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' })],
    ]);
  });

  it("gives a TTY's size to the runtime and its output on stdout, ignoring a resize without a TTY", async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    const withTty = socketPair();
    const without = socketPair();
    runtime.process = (_cmd, io) => {
      io.out(2, 'prompt$ ');
      io.onInput((d) => (d === undefined ? io.exit(0) : undefined));
    };

    // act
    const a = runSession(
      runtime,
      { id, running: true },
      request({ command: ['sh'], stdin: true, tty: true, stderr: false }),
      withTty.socket,
    );
    const b = runSession(runtime, { id, running: true }, request({ command: ['sh'], stdin: true }), without.socket);
    await new Promise((r) => setTimeout(r, 10));
    withTty.send(CHANNEL.resize, '{"Width":120,"Height":40}');
    without.send(CHANNEL.resize, '{"Width":1,"Height":1}');
    withTty.send(CHANNEL.close, Buffer.from([CHANNEL.stdin]));
    without.send(CHANNEL.close, Buffer.from([CHANNEL.stdin]));
    await Promise.all([a, b]);

    // assess
    expect(runtime.calls.filter((c) => c.call === 'resize').map((c) => c.detail)).toEqual(['120x40']);
    expect(withTty.received[0]).toEqual([CHANNEL.stdout, 'prompt$ ']);
    expect(without.received[0]).toEqual([CHANNEL.stderr, 'prompt$ ']);
  });

  it('stops the process stream when the client goes away, sending nothing after', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    const pair = socketPair();

    // act
    const done = runSession(runtime, { id, running: true }, request({ command: ['cat'], stdin: true }), pair.socket);
    await new Promise((r) => setTimeout(r, 10));
    pair.leave();
    await done;

    // assess
    expect(pair.received).toEqual([]);
  });

  it('refuses a container that is not running, and reports a runtime that cannot start the command', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const stopped = socketPair();
    const broken = socketPair();
    const id = await running(runtime);
    runtime.exit(id, 0);

    // act
    await runSession(runtime, { running: false }, request({ command: ['ls'] }), stopped.socket);
    await runSession(runtime, { id, running: true }, request({ command: ['ls'] }), broken.socket);

    // assess
    expect(statusOf(stopped.received).message).toBe('container "app" in pod "web" is not running');
    expect(statusOf(broken.received).message).toContain(
      'starting the command in container "app" in pod "web": container',
    );
    expect(runtime.calls.some((c) => c.call === 'execStream')).toBe(false);
  });
});

describe("the node's log session", () => {
  it('says ready, sends the output and stops at limitBytes', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    runtime.print(id, 'abcdefghij\n');
    const pair = socketPair();

    // act
    await runSession(
      runtime,
      { id, running: true },
      request({ kind: 'logs', follow: true, limitBytes: 4 }),
      pair.socket,
    );

    // assess
    expect(pair.received).toEqual([[CHANNEL.stdout, 'abcd']]);
    expect(pair.isClosed()).toBe(true);
  });

  it("serves an exited instance's kept text, previous included, and refuses since or timestamps for it", async () => {
    // prepare
    const runtime = new FakeRuntime();
    const exited = { running: false, exitedLogs: ['last\n', 'before\n'] };
    const last = socketPair();
    const previous = socketPair();
    const stamped = socketPair();
    const none = socketPair();

    // act
    await runSession(runtime, exited, request({ kind: 'logs', follow: true }), last.socket);
    await runSession(runtime, exited, request({ kind: 'logs', previous: true }), previous.socket);
    await runSession(runtime, exited, request({ kind: 'logs', timestamps: true }), stamped.socket);
    await runSession(runtime, undefined, request({ kind: 'logs' }), none.socket);

    // assess
    expect(last.received).toEqual([
      [CHANNEL.stdout, ''],
      [CHANNEL.stdout, 'last\n'],
    ]);
    expect(previous.received.at(-1)).toEqual([CHANNEL.stdout, 'before\n']);
    expect(statusOf(stamped.received).message).toContain('since and timestamps need its running instance');
    expect(statusOf(none.received).message).toBe('container "app" in pod "web" is waiting to start');
  });

  it('passes tail, since and timestamps to the runtime as the kubelet reads them', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const id = await running(runtime);
    const pair = socketPair();

    // act
    await runSession(
      runtime,
      { id, running: true },
      request({ kind: 'logs', tailLines: 5, sinceTime: '2026-01-01T00:00:10Z', timestamps: true }),
      pair.socket,
    );

    // assess
    expect(JSON.parse(runtime.calls.find((c) => c.call === 'logStream')?.detail ?? '')).toEqual({
      follow: false,
      timestamps: true,
      tailLines: 5,
      since: Date.parse('2026-01-01T00:00:10Z') / 1000,
    });
  });
});
