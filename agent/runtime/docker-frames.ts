/**
 * Docker's multiplexed output (a container without a TTY): frames of an 8-byte header (stream
 * 1 or 2, three zero bytes, a big-endian uint32 size) then that many bytes
 * (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Container/operation/ContainerAttach).
 * One reader for both uses: a stream read as it comes (docker-streams.ts) and a whole log read
 * at once (docker.ts).
 */
import type { OutputListener } from './types';

/**
 * Frames read incrementally, split anywhere across chunks. Stream 0 (stdin echoed) and unknown
 * streams are dropped.
 */
export class FrameDemuxer {
  private pending = Buffer.alloc(0);

  constructor(private readonly onOutput: OutputListener) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const stream = buf[0];
      const data = buf.subarray(8, 8 + size);
      if ((stream === 1 || stream === 2) && data.length > 0) this.onOutput(stream, Buffer.from(data));
      buf = buf.subarray(8 + size);
    }
    this.pending = Buffer.from(buf);
  }
}

/** stdout and stderr of a whole multiplexed body, in the order they were written. */
export function demuxInterleaved(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  new FrameDemuxer((_stream, data) => parts.push(data)).push(buf);
  return Buffer.concat(parts);
}
