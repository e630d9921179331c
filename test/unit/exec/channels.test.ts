/**
 * The wire pieces of a stream session: the Kubernetes channel framing both ends share, the Status
 * kubectl reads an exit code from, the resize message, and Docker's multiplexed output read
 * incrementally (a frame may be split anywhere across chunks).
 */
import { describe, expect, it } from 'vitest';
import { demuxInterleaved, FrameDemuxer } from '../../../agent/runtime/docker-frames';
import { CHANNEL, exitStatus, frame, parseResize, unframe } from '../../../schemas/stream-channels';

function dockerFrame(stream: number, text: string): Buffer {
  const data = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

describe('stream channels', () => {
  it('frames a message as its channel byte then the data, and reads it back', () => {
    // act
    const m = frame(CHANNEL.stderr, 'oops');

    // assess
    expect([...m]).toEqual([2, ...Buffer.from('oops')]);
    expect(unframe(m)).toEqual({ channel: 2, data: Buffer.from('oops') });
    expect(unframe(new Uint8Array(0))).toBeUndefined();
    expect([...frame(CHANNEL.close, Buffer.from([CHANNEL.stdin]))]).toEqual([255, 0]);
  });

  it('ends with Success for exit 0 and NonZeroExitCode with an ExitCode cause otherwise, as kubectl reads them', () => {
    // act
    const ok = exitStatus(0);
    const three = exitStatus(3) as {
      status: string;
      reason: string;
      details: { causes: { reason: string; message: string }[] };
    };
    const failed = exitStatus(undefined, 'container "app" is not running') as { status: string; message: string };

    // assess
    expect(ok).toMatchObject({ status: 'Success' });
    expect(three.status).toBe('Failure');
    expect(three.reason).toBe('NonZeroExitCode');
    expect(three.details.causes).toEqual([{ reason: 'ExitCode', message: '3' }]);
    expect(failed).toMatchObject({ status: 'Failure', message: 'container "app" is not running' });
  });

  it.each([
    ['{"Width":80,"Height":24}', { width: 80, height: 24 }],
    ['{"Width":-1,"Height":24}', undefined],
    ['{"Width":1e9,"Height":24}', undefined],
    ['{"Width":"80","Height":24}', undefined],
    ['not json', undefined],
  ])('reads the resize message %s as %j', (text, size) => {
    expect(parseResize(Buffer.from(text))).toEqual(size);
  });
});

describe("Docker's multiplexed output", () => {
  it('splits stdout and stderr frames however the chunks fall, dropping empty and stdin frames', () => {
    // prepare
    const out: [number, string][] = [];
    const demux = new FrameDemuxer((channel, data) => out.push([channel, data.toString()]));
    const bytes = Buffer.concat([
      dockerFrame(1, 'hello '),
      dockerFrame(2, 'warn'),
      dockerFrame(0, 'echo'),
      dockerFrame(1, ''),
      dockerFrame(1, 'world'),
    ]);

    // act: one byte at a time, the worst split
    for (let i = 0; i < bytes.length; i++) demux.push(bytes.subarray(i, i + 1));

    // assess
    expect(out).toEqual([
      [1, 'hello '],
      [2, 'warn'],
      [1, 'world'],
    ]);
  });

  it('reads several frames from one chunk and keeps a partial one for the next', () => {
    // prepare
    const out: string[] = [];
    const demux = new FrameDemuxer((_c, data) => out.push(data.toString()));
    const third = dockerFrame(1, 'three');

    // act
    demux.push(Buffer.concat([dockerFrame(1, 'one'), dockerFrame(1, 'two'), third.subarray(0, 10)]));
    const before = [...out];
    demux.push(third.subarray(10));

    // assess
    expect(before).toEqual(['one', 'two']);
    expect(out).toEqual(['one', 'two', 'three']);
  });

  it('reads a whole log body (docker logs) as stdout and stderr in the order written, with the same reader', () => {
    const body = Buffer.concat([dockerFrame(1, 'a\n'), dockerFrame(2, 'b\n'), dockerFrame(1, 'c\n')]);
    expect(demuxInterleaved(body).toString()).toBe('a\nb\nc\n');
    // A body cut inside a frame keeps the whole frames before the cut.
    expect(demuxInterleaved(body.subarray(0, body.length - 1)).toString()).toBe('a\nb\n');
  });
});
