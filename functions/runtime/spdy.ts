/**
 * The SPDY/3.1 framing kubectl's port-forward speaks (https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/):
 * frames read from a byte stream, the frames a server sends (SYN_REPLY, DATA, RST_STREAM, PING,
 * GOAWAY), and header blocks compressed with zlib over the spec's dictionary, one zlib stream per
 * direction for the whole connection (so blocks are coded in order, never concurrently). Flow
 * control (WINDOW_UPDATE) is not sent, and the client's is ignored: Kubernetes' SPDY library
 * (moby/spdystream) implements none either.
 */
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

// biome-ignore format: one line per table
export const TYPE = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;
export const FLAG_FIN = 0x01;
/** RST_STREAM status codes. */
export const RST = { protocolError: 1, refusedStream: 3, cancel: 5 } as const;
/** A frame longer than this ends the connection (kubectl's data frames are at most 32 KiB). */
const MAX_FRAME_BYTES = 1024 * 1024;
/** Control frames carry a few headers: this bounds what one header block can cost to inflate. */
const MAX_CONTROL_BYTES = 64 * 1024;

export type Frame =
  | { control: true; type: number; flags: number; data: Buffer }
  | { control: false; streamId: number; flags: number; data: Buffer };

/** Frames from a byte stream, split anywhere; throws on one longer than the bound or a version other than 3. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.pending.length >= 8) {
      const length = this.pending.readUInt32BE(4) & 0xffffff;
      if (length > MAX_FRAME_BYTES)
        throw new Error(`SPDY frame of ${length} bytes is over the ${MAX_FRAME_BYTES} limit`);
      if (this.pending.length < 8 + length) break;
      const flags = this.pending[4] as number;
      const data = Buffer.from(this.pending.subarray(8, 8 + length));
      const first = this.pending.readUInt32BE(0);
      if (first & 0x80000000) {
        if (length > MAX_CONTROL_BYTES)
          throw new Error(`SPDY control frame of ${length} bytes is over the ${MAX_CONTROL_BYTES} limit`);
        const version = (first >>> 16) & 0x7fff;
        if (version !== 3) throw new Error(`SPDY version ${version} is not served (3 only)`);
        frames.push({ control: true, type: first & 0xffff, flags, data });
      } else frames.push({ control: false, streamId: first & 0x7fffffff, flags, data });
      this.pending = this.pending.subarray(8 + length);
    }
    return frames;
  }
}

/** A control frame of `type` around `body` (version 3). */
export function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags & 0xff) << 24) | body.length, 4);
  return Buffer.concat([head, body]);
}

export function dataFrame(streamId: number, data: Buffer, fin = false): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
  return Buffer.concat([head, data]);
}

export function synReplyFrame(streamId: number, block: Buffer): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff);
  return controlFrame(TYPE.synReply, 0, Buffer.concat([id, block]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return controlFrame(TYPE.rstStream, 0, body);
}

export function pingFrame(data: Buffer): Buffer {
  return controlFrame(TYPE.ping, 0, data.subarray(0, 4));
}

export function goAwayFrame(lastStreamId: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  return controlFrame(TYPE.goAway, 0, body);
}

/** A SYN_STREAM's stream id and its (still compressed) header block. */
export function parseSynStream(data: Buffer): { streamId: number; block: Buffer } {
  if (data.length < 10) throw new Error('SPDY SYN_STREAM frame too short');
  return { streamId: data.readUInt32BE(0) & 0x7fffffff, block: data.subarray(10) };
}

/**
 * Header blocks both ways: name/value pairs, each length-prefixed (32 bits), compressed by one
 * zlib stream per direction primed with the spec's dictionary and flushed (Z_SYNC_FLUSH) per block.
 */
export class HeaderCodec {
  private readonly inflater: Inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private readonly deflater: Deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private inQueue: Promise<unknown> = Promise.resolve();
  private outQueue: Promise<unknown> = Promise.resolve();

  constructor() {
    this.inflater.on('error', () => undefined);
    this.deflater.on('error', () => undefined);
  }

  /** The headers of a block, names lower-cased (SPDY requires it); at most 100 pairs of 8 KiB. */
  decode(block: Buffer): Promise<Map<string, string>> {
    const next = this.inQueue.then(async () => parsePairs(await pass(this.inflater, block)));
    this.inQueue = next.catch(() => undefined);
    return next;
  }

  encode(headers: Record<string, string>): Promise<Buffer> {
    const next = this.outQueue.then(() => pass(this.deflater, encodePairs(headers)));
    this.outQueue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.inflater.destroy();
    this.deflater.destroy();
  }
}

/** The most a header block may inflate to: a small block of zlib can expand a thousandfold. */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;

/** Runs `input` through a zlib stream and collects what comes out up to a sync flush. */
function pass(stream: Inflate | Deflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_HEADER_BLOCK_BYTES) out.push(c);
      else out.length = 0;
    };
    const onError = (err: Error) => {
      stream.off('data', onData);
      reject(err);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    stream.write(input);
    stream.flush(constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', onError);
      if (size > MAX_HEADER_BLOCK_BYTES)
        reject(new Error(`SPDY header block inflates past ${MAX_HEADER_BLOCK_BYTES} bytes`));
      else resolve(Buffer.concat(out));
    });
  });
}

function encodePairs(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [u32(Object.keys(headers).length)];
  for (const [k, v] of Object.entries(headers)) {
    const name = Buffer.from(k.toLowerCase());
    const value = Buffer.from(v);
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

function parsePairs(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  if (buf.length < 4) throw new Error('SPDY header block too short');
  const count = buf.readUInt32BE(0);
  if (count > 100) throw new Error(`SPDY header block with ${count} pairs`);
  let i = 4;
  const read = () => {
    if (i + 4 > buf.length) throw new Error('SPDY header block truncated');
    const n = buf.readUInt32BE(i);
    if (n > 8192 || i + 4 + n > buf.length) throw new Error('SPDY header block truncated');
    const s = buf.subarray(i + 4, i + 4 + n).toString('utf8');
    i += 4 + n;
    return s;
  };
  for (let p = 0; p < count; p++) {
    const name = read().toLowerCase();
    out.set(name, read());
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * The header compression dictionary of SPDY/3 (draft 3.1, section 2.6.10.1): the length-prefixed
 * words, then the status codes, phrases and common values as one run of text, 1,423 bytes.
 */
// biome-ignore format: the spec's list, kept as compact as it prints
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((w) => [u32(w.length), Buffer.from(w)]),
  Buffer.from(DICTIONARY_TAIL),
]);
