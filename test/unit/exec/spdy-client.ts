/**
 * A hand-written kubectl port-forward client for tests: SPDY/3.1 (the server's own frame and
 * header code, functions/runtime/spdy.ts) over either transport kubectl uses: an HTTP upgrade to
 * `SPDY/3.1` (kubectl before 1.31, and its fallback) or a WebSocket whose binary messages carry
 * the SPDY bytes (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+'s default).
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  controlFrame,
  dataFrame,
  FLAG_FIN,
  FrameReader,
  HeaderCodec,
  RST,
  rstStreamFrame,
  TYPE,
} from '../../../functions/runtime/spdy';
import { rawWebSocket } from './ws-client';

export interface ClientStream {
  data: Buffer[];
  ended: boolean;
  reset: boolean;
  replied: boolean;
}

export class SpdyClient {
  readonly streams = new Map<number, ClientStream>();
  goAway = false;
  closed = false;
  private readonly reader = new FrameReader();
  private readonly codec = new HeaderCodec();
  private nextId = 1;
  private work: Promise<void> = Promise.resolve();

  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) this.work = this.work.then(() => this.handle(f));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Opens a stream with these headers (SYN_STREAM), as kubectl opens each error and data stream. */
  async open(headers: Record<string, string>): Promise<number> {
    const id = this.nextId;
    this.nextId += 2;
    this.streams.set(id, { data: [], ended: false, reset: false, replied: false });
    const block = await this.codec.encode(headers);
    const body = Buffer.alloc(10);
    body.writeUInt32BE(id, 0);
    this.socket.write(controlFrame(TYPE.synStream, 0, Buffer.concat([body, block])));
    return id;
  }

  /** A port's pair of streams, as kubectl opens them for each local connection. */
  async openPair(port: number, requestId: string): Promise<{ error: number; data: number }> {
    const error = await this.open({ streamtype: 'error', port: String(port), requestid: requestId });
    const data = await this.open({ streamtype: 'data', port: String(port), requestid: requestId });
    return { error, data };
  }

  write(id: number, data: Buffer, fin = false): void {
    this.socket.write(dataFrame(id, data, fin));
  }

  reset(id: number): void {
    this.socket.write(rstStreamFrame(id, RST.cancel));
  }

  text(id: number): string {
    return Buffer.concat(this.streams.get(id)?.data ?? []).toString('utf8');
  }

  close(): void {
    this.socket.destroy();
  }

  private async handle(f: ReturnType<FrameReader['push']>[number]): Promise<void> {
    if (!f.control) {
      const s = this.streams.get(f.streamId);
      if (!s) return;
      if (f.data.length > 0) s.data.push(f.data);
      if (f.flags & FLAG_FIN) s.ended = true;
      return;
    }
    if (f.type === TYPE.synReply) {
      const s = this.streams.get(f.data.readUInt32BE(0) & 0x7fffffff);
      await this.codec.decode(f.data.subarray(4)); // keeps the inflater in step
      if (s) s.replied = true;
    } else if (f.type === TYPE.rstStream) {
      const s = this.streams.get(f.data.readUInt32BE(0) & 0x7fffffff);
      if (s) s.reset = true;
    } else if (f.type === TYPE.goAway) this.goAway = true;
  }
}

/** kubectl's SPDY/3.1 upgrade (POST, `X-Stream-Protocol-Version: portforward.k8s.io`). */
export function spdyUpgrade(url: string, path: string, token: string): Promise<SpdyClient> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('error', reject);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const status = head.subarray(0, end).toString('latin1');
      if (!status.startsWith('HTTP/1.1 101')) return reject(new Error(status.split('\r\n')[0]));
      const rest = head.subarray(end + 4);
      const client = new SpdyClient(socket);
      if (rest.length > 0) socket.unshift(rest);
      resolve(client);
    };
    socket.on('data', onData);
  });
}

/** The tunnel kubectl 1.31+ opens: a WebSocket offering `SPDY/3.1+portforward.k8s.io`, SPDY inside. */
export async function tunnelUpgrade(
  url: string,
  path: string,
  token: string,
  protocols = ['SPDY/3.1+portforward.k8s.io'],
): Promise<{ client: SpdyClient; protocol: string | undefined }> {
  const { stream, protocol } = await rawWebSocket(url, path, token, protocols);
  return { client: new SpdyClient(stream), protocol };
}
