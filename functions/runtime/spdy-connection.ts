/**
 * The server's side of one SPDY/3.1 connection (spdy.ts has the frames): it reads frames in
 * order (a header block must be decoded before the next, one zlib stream), answers each stream
 * the client opens with a SYN_REPLY, echoes PINGs, and hands the rest to its user: each new
 * stream with its headers, each stream's data and end, a reset, and the connection's end. What
 * it sends: DATA (and a FIN), RST_STREAM, GOAWAY. No flow control, as moby/spdystream.
 */
import type { Duplex } from 'node:stream';
import {
  dataFrame,
  FLAG_FIN,
  type Frame,
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

export interface SpdyHandlers {
  /** A stream the client opened (already replied to); false resets it. */
  onStream(streamId: number, headers: Map<string, string>): boolean;
  onData(streamId: number, data: Buffer, fin: boolean): void;
  onReset(streamId: number): void;
  onClose(): void;
}

export class SpdyConnection {
  private readonly reader = new FrameReader();
  private readonly codec = new HeaderCodec();
  private lastStream = 0;
  private work: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    private readonly handlers: SpdyHandlers,
    private readonly onBadInput: (err: unknown) => void = () => undefined,
  ) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => socket.destroy());
    // The client's end is the connection's: node:http's sockets are half-open, so without this a
    // kubectl that quit would keep its streams, and their sessions, until the socket was reaped.
    socket.on('end', () => this.close());
    socket.on('close', () => this.shut());
  }

  send(streamId: number, data: Buffer): void {
    if (data.length > 0) this.write(dataFrame(streamId, data));
  }

  /** The server's end of a stream (a FIN). */
  finish(streamId: number): void {
    this.write(dataFrame(streamId, Buffer.alloc(0), true));
  }

  reset(streamId: number, status: number): void {
    this.write(rstStreamFrame(streamId, status));
  }

  /** Stops reading the client (backpressure) until `resume`. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** GOAWAY, then the socket ends. */
  close(): void {
    if (!this.socket.destroyed) this.socket.end(goAwayFrame(this.lastStream));
    this.shut();
  }

  private write(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    this.codec.close();
    this.handlers.onClose();
  }

  private read(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.onBadInput(err);
      this.socket.destroy();
      return;
    }
    for (const f of frames)
      this.work = this.work
        .then(() => this.handle(f))
        .catch((err) => {
          this.onBadInput(err);
          this.socket.destroy();
        });
  }

  private async handle(f: Frame): Promise<void> {
    if (!f.control) return this.handlers.onData(f.streamId, f.data, (f.flags & FLAG_FIN) !== 0);
    switch (f.type) {
      case TYPE.synStream: {
        const { streamId, block } = parseSynStream(f.data);
        this.lastStream = Math.max(this.lastStream, streamId);
        const headers = await this.codec.decode(block);
        // The reply's block goes through the compressor even when empty: it keeps the stream in step.
        // Replied before its user may write on it: the client drops data on a stream not replied yet.
        this.write(synReplyFrame(streamId, await this.codec.encode({})));
        if (!this.handlers.onStream(streamId, headers)) return this.reset(streamId, RST.refusedStream);
        if ((f.flags & FLAG_FIN) !== 0) this.handlers.onData(streamId, Buffer.alloc(0), true);
        return;
      }
      case TYPE.rstStream:
        return this.handlers.onReset(f.data.readUInt32BE(0) & 0x7fffffff);
      case TYPE.ping:
        return this.write(pingFrame(f.data));
      case TYPE.goAway:
        return this.close();
      default:
        // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do.
        return;
    }
  }
}
