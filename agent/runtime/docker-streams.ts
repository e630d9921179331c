/**
 * Docker's streamed calls, for the ContainerRuntime's stream methods (docker.ts delegates here):
 * exec (create, start on a hijacked connection, resize, inspect for the exit code), attach to a
 * container's stdio, and a followed log. Docker multiplexes stdout and stderr in 8-byte-headed
 * frames (docker-frames.ts) unless the process has a TTY, when the stream is raw.
 * A hijacked connection is a plain TCP stream after `101 UPGRADED`: stdin is written to it and
 * its write side half-closed for EOF.
 */
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DockerApi, type DockerError, dockerError } from './docker-api';
import { FrameDemuxer } from './docker-frames';
import type { LogStreamOptions, OutputListener, StdioOptions, StdioStream } from './types';

/** How long an ended exec may still read as Running before its exit code is given up on. */
const EXIT_CODE_WAIT_MS = 2_000;

export class DockerStreams {
  constructor(
    private readonly api: DockerApi,
    private readonly socketPath: string,
    private readonly prefix = '/v1.41',
  ) {}

  async exec(id: string, command: string[], o: StdioOptions, onOutput: OutputListener): Promise<StdioStream> {
    const created = await this.api.json<{ Id: string }>('POST', `/containers/${id}/exec`, {
      Cmd: command,
      AttachStdin: o.stdin,
      AttachStdout: o.stdout,
      AttachStderr: o.stderr,
      Tty: o.tty,
    });
    const execId = created.Id;
    const socket = await this.hijack(`/exec/${execId}/start`, { Detach: false, Tty: o.tty });
    const ended = pump(socket, o.tty, onOutput);
    return {
      ...stdin(socket),
      resize: (width, height) => this.quiet('POST', `/exec/${execId}/resize?h=${height}&w=${width}`),
      done: ended.then(() => this.execExitCode(execId)),
      close: () => socket.destroy(),
    };
  }

  async attach(id: string, o: StdioOptions, onOutput: OutputListener): Promise<StdioStream> {
    const info = await this.api.json<{ Config: { Tty?: boolean } }>('GET', `/containers/${id}/json`);
    const flags = `stream=1&stdin=${o.stdin ? 1 : 0}&stdout=${o.stdout ? 1 : 0}&stderr=${o.stderr ? 1 : 0}`;
    const socket = await this.hijack(`/containers/${id}/attach?${flags}`);
    const ended = pump(socket, info.Config.Tty === true, onOutput);
    return {
      ...stdin(socket),
      resize: (width, height) => this.quiet('POST', `/containers/${id}/resize?h=${height}&w=${width}`),
      done: ended.then(() => this.containerExitCode(id)),
      close: () => socket.destroy(),
    };
  }

  async logs(id: string, o: LogStreamOptions, onOutput: OutputListener): Promise<StdioStream> {
    const info = await this.api.json<{ Config: { Tty?: boolean } }>('GET', `/containers/${id}/json`);
    const query = [
      'stdout=1',
      'stderr=1',
      `follow=${o.follow ? 1 : 0}`,
      `timestamps=${o.timestamps ? 1 : 0}`,
      ...(o.tailLines !== undefined ? [`tail=${o.tailLines}`] : []),
      ...(o.since !== undefined ? [`since=${o.since.toFixed(3)}`] : []),
    ].join('&');
    const { req, res } = await this.get(`/containers/${id}/logs?${query}`);
    const ended = pump(res, info.Config.Tty === true, onOutput);
    return {
      write: () => undefined,
      endInput: () => undefined,
      resize: async () => undefined,
      done: ended.then(() => undefined),
      close: () => req.destroy(),
    };
  }

  /** POSTs `path` asking Docker to hijack the connection; resolves to the raw stream after 101. */
  private hijack(path: string, body: unknown = {}): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const req = request({
        socketPath: this.socketPath,
        path: this.prefix + path,
        method: 'POST',
        headers: {
          connection: 'Upgrade',
          upgrade: 'tcp',
          'content-type': 'application/json',
          'content-length': payload.length,
        },
      });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => refusal(res, `docker POST ${path.split('?')[0]}`).then(reject, reject));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A GET whose body is read as it streams. */
  private get(path: string): Promise<{ req: ClientRequest; res: IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: this.prefix + path, method: 'GET' }, (res) => {
        if (res.statusCode === 200) resolve({ req, res });
        else refusal(res, `docker GET ${path.split('?')[0]}`).then(reject, reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private async quiet(method: string, path: string): Promise<void> {
    await this.api.call(method, path).catch(() => undefined);
  }

  /** The exec's exit code once Docker has it (it may read Running for a moment after the stream ends). */
  private async execExitCode(execId: string): Promise<number | undefined> {
    const deadline = Date.now() + EXIT_CODE_WAIT_MS;
    for (;;) {
      try {
        const info = await this.api.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${execId}/json`);
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      } catch {
        return undefined;
      }
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async containerExitCode(id: string): Promise<number | undefined> {
    try {
      const info = await this.api.json<{ State: { Running: boolean; ExitCode: number } }>(
        'GET',
        `/containers/${id}/json`,
      );
      return info.State.Running ? undefined : info.State.ExitCode;
    } catch {
      return undefined;
    }
  }
}

function stdin(socket: Duplex): Pick<StdioStream, 'write' | 'endInput'> {
  return {
    write: (data) => {
      if (!socket.destroyed && socket.writable) socket.write(data);
    },
    endInput: () => {
      if (!socket.destroyed && socket.writable) socket.end();
    },
  };
}

/** Feeds the stream's output to `onOutput` (demultiplexed unless raw); settles when it ends. */
function pump(
  stream: NodeJS.ReadableStream & { on(e: string, l: (...a: never[]) => void): unknown },
  raw: boolean,
  onOutput: OutputListener,
): Promise<void> {
  const demux = raw ? undefined : new FrameDemuxer(onOutput);
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => (demux ? demux.push(chunk) : onOutput(1, chunk)));
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', () => resolve());
  });
}

async function refusal(res: IncomingMessage, what: string): Promise<DockerError> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return dockerError(what, res.statusCode ?? 0, Buffer.concat(chunks));
}
