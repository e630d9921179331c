/**
 * `ferry exec [-i] [-t] [-c CONTAINER] POD -- COMMAND [ARGS...]`: runs a command in a pod's
 * container, as `kubectl exec` does and over the same WebSocket (`pods/{name}/exec`,
 * v5.channel.k8s.io): stdout and stderr printed as they come, stdin sent with `-i` (its end
 * closes the command's input), a terminal with `-t` (raw mode, its size kept), and the command's
 * exit code as ferry's. `ws` is loaded only by this command.
 */
import type { Command } from 'commander';
import { CHANNEL, frame, PROTOCOL_V5, STREAM_PROTOCOLS, unframe } from '../../schemas/stream-channels';
import { connect, openWebSocket } from '../client';
import { type CliContext, err } from '../context';
import { CliError } from '../errors';
import { DEFAULT_NAMESPACE, objectPath, resolveKind } from '../resources';

interface ExecOptions {
  container?: string;
  namespace?: string;
  stdin?: boolean;
  tty?: boolean;
}

interface EndStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description('run a command in a container of a pod (as kubectl exec)')
    .argument('<pod>', 'the pod')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-c, --container <name>', 'the container (required when the pod has several)')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'stdin is a terminal (with -i: an interactive shell)')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (pod: string, command: string[], opts: ExecOptions) => {
      ctx.exitCode = await execIn(ctx, pod, command, opts);
    });
}

async function execIn(ctx: CliContext, pod: string, command: string[], opts: ExecOptions): Promise<number> {
  const terminal = opts.tty ? ctx.io.terminal : undefined;
  if (opts.tty && !terminal) err(ctx, 'Unable to use a TTY - input is not a terminal or the right kind of file');
  const tty = terminal !== undefined;
  const query = new URLSearchParams();
  for (const arg of command) query.append('command', arg);
  if (opts.container) query.set('container', opts.container);
  query.set('stdout', 'true');
  query.set('stderr', String(!tty));
  if (opts.stdin) query.set('stdin', 'true');
  if (tty) query.set('tty', 'true');
  const client = await connect(ctx.io.env);
  const path = `${objectPath(resolveKind('Pod'), opts.namespace ?? DEFAULT_NAMESPACE, pod)}/exec`;
  const ws = await openWebSocket(client, { path, query }, [...STREAM_PROTOCOLS]);
  const decoders = { out: new TextDecoder(), err: new TextDecoder() };
  let status: EndStatus | undefined;
  const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
  ws.on('message', (data: Buffer) => {
    const f = unframe(data);
    if (!f) return;
    if (f.channel === CHANNEL.stdout) ctx.io.stdout.write(decoders.out.decode(f.data, { stream: true }));
    else if (f.channel === CHANNEL.stderr) ctx.io.stderr.write(decoders.err.decode(f.data, { stream: true }));
    else if (f.channel === CHANNEL.error) status = parseStatus(f.data);
  });
  const stop = () => ws.close();
  ctx.io.signal?.addEventListener('abort', stop, { once: true });
  const send = (m: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(m);
  };
  let unsubscribe = () => {};
  if (terminal) {
    terminal.setRaw(true);
    const resize = () => send(frame(CHANNEL.resize, JSON.stringify(sizeOf(terminal.size()))));
    resize();
    unsubscribe = terminal.onResize(resize);
  }
  const input = opts.stdin && ctx.io.stdin ? ctx.io.stdin[Symbol.asyncIterator]() : undefined;
  const pumping = input ? pumpStdin(input, send, ws.protocol === PROTOCOL_V5) : undefined;
  try {
    await closed;
  } finally {
    terminal?.setRaw(false);
    unsubscribe();
    ctx.io.signal?.removeEventListener('abort', stop);
    void input?.return?.();
    void pumping;
  }
  return exitCodeOf(ctx, status);
}

/** Sends stdin as it comes; at its end, the v5 close signal (v4 has none: the command keeps its input). */
async function pumpStdin(
  input: AsyncIterator<string | Uint8Array>,
  send: (m: Buffer) => void,
  canClose: boolean,
): Promise<void> {
  try {
    for (;;) {
      const next = await input.next();
      if (next.done) break;
      send(frame(CHANNEL.stdin, typeof next.value === 'string' ? Buffer.from(next.value) : next.value));
    }
    if (canClose) send(frame(CHANNEL.close, Buffer.from([CHANNEL.stdin])));
  } catch {
    // stdin went away with the session
  }
}

function exitCodeOf(ctx: CliContext, status: EndStatus | undefined): number {
  if (!status) throw new CliError('the exec stream ended without a status: did the node go away?');
  if (status.status === 'Success') return 0;
  const code = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
  if (status.reason === 'NonZeroExitCode' && code !== undefined && /^\d+$/.test(code)) {
    err(ctx, `command terminated with exit code ${code}`);
    return Number(code);
  }
  throw new CliError(status.message ?? 'the command failed');
}

function parseStatus(data: Buffer): EndStatus {
  try {
    return JSON.parse(data.toString('utf8')) as EndStatus;
  } catch {
    return { status: 'Failure', message: 'the node sent an unreadable status' };
  }
}

function sizeOf(size: { width: number; height: number }): { Width: number; Height: number } {
  return { Width: size.width || 80, Height: size.height || 24 };
}
