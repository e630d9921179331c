/**
 * The SPDY/3.1 pieces port-forward rests on: frames read however the bytes are split, bounds on
 * hostile frames, and header blocks through the dictionary-primed zlib streams, in order.
 */
import { describe, expect, it } from 'vitest';
import {
  dataFrame,
  FrameReader,
  HeaderCodec,
  pingFrame,
  SPDY3_DICTIONARY,
  synReplyFrame,
  TYPE,
} from '../../../functions/runtime/spdy';

describe('SPDY/3.1 frames', () => {
  it('reads control and data frames split anywhere across chunks', () => {
    // prepare
    const bytes = Buffer.concat([
      pingFrame(Buffer.from([0, 0, 0, 7])),
      dataFrame(3, Buffer.from('hello'), true),
      synReplyFrame(5, Buffer.from('hdrs')),
    ]);
    const reader = new FrameReader();

    // act
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...reader.push(bytes.subarray(i, i + 1)));

    // assess
    expect(frames).toEqual([
      { control: true, type: TYPE.ping, flags: 0, data: Buffer.from([0, 0, 0, 7]) },
      { control: false, streamId: 3, flags: 1, data: Buffer.from('hello') },
      { control: true, type: TYPE.synReply, flags: 0, data: Buffer.from([0, 0, 0, 5, ...Buffer.from('hdrs')]) },
    ]);
  });

  it('refuses a frame over 1 MiB, a control frame over 64 KiB and a version other than 3', () => {
    // prepare
    const huge = Buffer.from([0, 0, 0, 1, 0, 0x20, 0, 0]);
    const bigControl = Buffer.concat([Buffer.from([0x80, 0x03, 0, 1, 0, 0x01, 0, 1]), Buffer.alloc(65537)]);
    const v2 = Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0]);

    // act + assess
    expect(() => new FrameReader().push(huge)).toThrow('over the 1048576 limit');
    expect(() => new FrameReader().push(bigControl)).toThrow('control frame of 65537 bytes is over the 65536 limit');
    expect(() => new FrameReader().push(v2)).toThrow('SPDY version 2 is not served');
  });

  it('codes header blocks through one zlib stream per direction primed with the 1,423-byte dictionary', async () => {
    // prepare
    const sender = new HeaderCodec();
    const receiver = new HeaderCodec();

    // act: several blocks in a row share the stream's history
    const first = await sender.encode({ streamType: 'error', port: '8080', requestID: '0' });
    const second = await sender.encode({ streamType: 'data', port: '8080', requestID: '0' });
    const a = await receiver.decode(first);
    const b = await receiver.decode(second);
    sender.close();
    receiver.close();

    // assess
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(Object.fromEntries(a)).toEqual({ streamtype: 'error', port: '8080', requestid: '0' });
    expect(Object.fromEntries(b)).toEqual({ streamtype: 'data', port: '8080', requestid: '0' });
    expect(second.length).toBeLessThan(first.length);
  });

  it('refuses a header block that inflates past 256 KiB (a zlib bomb), however small it is', async () => {
    // prepare: 4 MiB of zeros as one "header value", compressed to a few KiB
    const sender = new HeaderCodec();
    const receiver = new HeaderCodec();
    const bomb = await sender.encode({ x: '\0'.repeat(4 * 1024 * 1024) });

    // act + assess
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(receiver.decode(bomb)).rejects.toThrow('inflates past 262144 bytes');
    sender.close();
    receiver.close();
  });

  it('rejects a header block that is not zlib over the dictionary', async () => {
    // prepare
    const codec = new HeaderCodec();

    // act + assess
    await expect(codec.decode(Buffer.from('not zlib at all'))).rejects.toThrow();
    codec.close();
  });
});
