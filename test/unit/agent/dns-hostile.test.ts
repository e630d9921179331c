/**
 * The node DNS server against packets no resolver sends: runts, responses, other opcodes, lying
 * section counts, compression pointers that loop or point forward, oversized queries, names with
 * bytes that cannot be echoed; and answers too large for UDP, which go out truncated so the
 * client retries over TCP. None of them may throw or produce a reply with another id.
 */
import { decode, encode, type RecordType } from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DnsResolver } from '../../../agent/dns/resolver';
import { MAX_QUERY_BYTES } from '../../../agent/dns/wire';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const many: ServiceRoute = {
  namespace: 'default',
  name: 'many',
  clusterIP: 'None',
  ports: [],
  pods: Array.from({ length: 100 }, (_, i) => ({ ip: `172.18.${i >> 8}.${i & 255}` })),
};
const r = new DnsResolver({
  routes: () => [many],
  domain: 'cluster.local',
  upstreams: () => [],
  forwardTimeoutMs: 100,
});

/** A query header: id 0x1234, these flags and counts. */
function header(flags: number, counts: [number, number, number, number]): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0x1234, 0);
  b.writeUInt16BE(flags, 2);
  for (const [i, c] of counts.entries()) b.writeUInt16BE(c, 4 + i * 2);
  return b;
}
const question = (name: Buffer) => Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
const rcodeOf = (raw: Buffer) => raw.readUInt16BE(2) & 0xf;
const FORMERR = 1;
const NOTIMP = 4;

describe('node DNS: hostile packets', () => {
  it('sends nothing back for a packet shorter than a header', async () => {
    expect(await r.handle(Buffer.alloc(0), 'udp')).toBeUndefined();
    expect(await r.handle(Buffer.from([0x12, 0x34, 0x01]), 'udp')).toBeUndefined();
  });

  it('never answers a response (QR set): two servers could otherwise bounce packets forever', async () => {
    const q = encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'many.default.svc.cluster.local' }] });
    expect(await r.handle(q, 'udp')).toBeUndefined();
  });

  it('answers NOTIMP to another opcode (UPDATE), with the id', async () => {
    const reply = (await r.handle(header(5 << 11, [1, 0, 0, 0]), 'udp')) as Buffer;
    expect(reply.readUInt16BE(0)).toBe(0x1234);
    expect(rcodeOf(reply)).toBe(NOTIMP);
  });

  it('answers FORMERR to a header that promises a question and has none', async () => {
    const reply = (await r.handle(header(0x0100, [1, 0, 0, 0]), 'udp')) as Buffer;
    expect(reply.readUInt16BE(0)).toBe(0x1234);
    expect(reply.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(rcodeOf(reply)).toBe(FORMERR);
  });

  it('answers FORMERR at once to huge section counts, before decoding a thing', async () => {
    for (const counts of [
      [65535, 0, 0, 0],
      [1, 65535, 0, 0],
      [1, 0, 65535, 0],
      [1, 0, 0, 65535],
      [0, 0, 0, 0],
    ] as [number, number, number, number][]) {
      const q = Buffer.concat([header(0x0100, counts), question(Buffer.from([1, 0x61, 0]))]);
      expect(rcodeOf((await r.handle(q, 'udp')) as Buffer), String(counts)).toBe(FORMERR);
    }
  });

  it('answers FORMERR to a compression pointer that points at itself or forward', async () => {
    const self = Buffer.concat([header(0x0100, [1, 0, 0, 0]), question(Buffer.from([0xc0, 12]))]);
    const forward = Buffer.concat([header(0x0100, [1, 0, 0, 0]), question(Buffer.from([0xc0, 40]))]);
    for (const q of [self, forward]) expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('answers FORMERR to a pointer chain that loops through two labels', async () => {
    // offset 12: label "a" then a pointer to 12 again: backwards by offset, but a loop.
    const q = Buffer.concat([header(0x0100, [1, 0, 0, 0]), question(Buffer.from([1, 0x61, 0xc0, 12]))]);
    expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('answers FORMERR to a label running past the end, and to a reserved label type', async () => {
    const past = Buffer.concat([header(0x0100, [1, 0, 0, 0]), Buffer.from([40, 0x61, 0x62])]);
    const reserved = Buffer.concat([header(0x0100, [1, 0, 0, 0]), question(Buffer.from([0x80, 0]))]);
    for (const q of [past, reserved]) expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('answers FORMERR to a query longer than any query needs to be', async () => {
    const q = Buffer.concat([
      encode({ type: 'query', id: 0x1234, questions: [{ type: 'A', name: 'a.cluster.local' }] }),
      Buffer.alloc(MAX_QUERY_BYTES),
    ]);
    expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('answers FORMERR to a name with bytes it could not echo back unchanged', async () => {
    const name = Buffer.from([2, 0xff, 0xfe, 7, ...Buffer.from('cluster'), 5, ...Buffer.from('local'), 0]);
    const q = Buffer.concat([header(0x0100, [1, 0, 0, 0]), question(name)]);
    expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('answers FORMERR to an additional record that is not OPT', async () => {
    const q = encode({
      type: 'query',
      id: 0x1234,
      questions: [{ type: 'A', name: 'many.default.svc.cluster.local' }],
      additionals: [{ type: 'A', name: 'x', ttl: 1, data: '1.2.3.4' }],
    });
    expect(rcodeOf((await r.handle(q, 'udp')) as Buffer)).toBe(FORMERR);
  });

  it('never throws and never answers with another id, whatever the bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), async (bytes) => {
        const raw = Buffer.from(bytes);
        const reply = await r.handle(raw, 'udp');
        if (reply) {
          expect(reply.readUInt16BE(0)).toBe(raw.readUInt16BE(0));
          expect(reply.readUInt16BE(2) & 0x8000).toBe(0x8000);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on a well-formed header followed by arbitrary question bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 80 }), async (bytes) => {
        const raw = Buffer.concat([header(0x0100, [1, 0, 0, 0]), Buffer.from(bytes)]);
        const reply = await r.handle(raw, 'udp');
        expect(reply?.readUInt16BE(0)).toBe(0x1234);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('node DNS: hostile reverse names', () => {
  const reverseOf = (labels: string[]) =>
    encode({
      type: 'query',
      id: 0x4321,
      flags: 0x0100,
      questions: [{ type: 'PTR', name: `${labels.join('.')}.in-addr.arpa`, class: 'IN' }],
    });

  it('answers any PTR question under in-addr.arpa with its id, a known pod or a forward, never a throw', async () => {
    const label = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.stringMatching(/^[a-z0-9-]{1,20}$/),
      fc.constantFrom('0', '00', '-1', '1e2', '0x10', ''),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(label, { minLength: 0, maxLength: 8 }), async (labels) => {
        const reply = await r.handle(reverseOf(labels.filter(Boolean)), 'udp');
        expect(reply?.readUInt16BE(0)).toBe(0x4321);
      }),
      { numRuns: 300 },
    );
  });

  it("answers a known pod's reverse name at once, from the zone", async () => {
    const res = decode((await r.handle(reverseOf(['5', '0', '18', '172']), 'udp')) as Buffer);
    expect(res.answers?.map((a) => (a as { data: unknown }).data)).toEqual([
      '172-18-0-5.many.default.svc.cluster.local',
    ]);
  });
});

describe('node DNS: answers too large for UDP', () => {
  const query = (type: RecordType, udpPayloadSize?: number) =>
    encode({
      type: 'query',
      id: 7,
      flags: 0x0100,
      questions: [{ type, name: 'many.default.svc.cluster.local', class: 'IN' }],
      ...(udpPayloadSize
        ? {
            additionals: [
              {
                type: 'OPT',
                name: '.',
                udpPayloadSize,
                extendedRcode: 0,
                ednsVersion: 0,
                flags: 0,
                flag_do: false,
                options: [],
              },
            ],
          }
        : {}),
    });

  it('sets TC and drops the records over classic 512-byte UDP, so the client asks over TCP', async () => {
    const raw = (await r.handle(query('A'), 'udp')) as Buffer;
    expect(raw.length).toBeLessThanOrEqual(512);
    const res = decode(raw);
    expect(res.flag_tc).toBe(true);
    expect(res.answers).toEqual([]);
  });

  it('answers every record over TCP', async () => {
    const res = decode((await r.handle(query('A'), 'tcp')) as Buffer);
    expect(res.flag_tc).toBe(false);
    expect(res.answers).toHaveLength(100);
  });

  it('fits up to the EDNS size the client offers (capped at 1232), echoing an OPT record', async () => {
    const raw = (await r.handle(query('A', 4096), 'udp')) as Buffer;
    expect(raw.length).toBeLessThanOrEqual(1232);
    const res = decode(raw);
    expect(res.additionals?.some((a) => a.type === 'OPT')).toBe(true);
    expect(res.flag_tc).toBe(true);
    const small = new DnsResolver({
      routes: () => [{ ...many, pods: many.pods?.slice(0, 20) }],
      domain: 'cluster.local',
      upstreams: () => [],
    });
    const fits = decode((await small.handle(query('A', 1232), 'udp')) as Buffer);
    expect(fits.flag_tc).toBe(false);
    expect(fits.answers).toHaveLength(20);
  });
});

describe('node DNS: name compression in answers', () => {
  it('fits 25 headless pods in a classic 512-byte UDP answer, each A record 16 bytes', async () => {
    const r25 = new DnsResolver({
      routes: () => [{ ...many, pods: many.pods?.slice(0, 25) }],
      domain: 'cluster.local',
      upstreams: () => [],
    });
    const q = encode({ type: 'query', id: 3, questions: [{ type: 'A', name: 'many.default.svc.cluster.local' }] });
    const raw = (await r25.handle(q, 'udp')) as Buffer;
    expect(raw.length).toBeLessThanOrEqual(512);
    const res = decode(raw);
    expect(res.flag_tc).toBe(false);
    expect(res.answers?.map((a) => a.name)).toEqual(Array(25).fill('many.default.svc.cluster.local'));
  });

  it('decodes to the same records as the uncompressed encoding (SRV targets and their additionals)', async () => {
    const srv = new DnsResolver({
      routes: () => [
        {
          namespace: 'data',
          name: 'db',
          clusterIP: 'None',
          ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [] }],
          pods: [
            { ip: '172.18.0.5', hostname: 'db-0', subdomain: 'db' },
            { ip: '172.18.0.6', hostname: 'db-1', subdomain: 'db' },
          ],
        },
      ],
      domain: 'cluster.local',
      upstreams: () => [],
    });
    const q = encode({
      type: 'query',
      id: 4,
      questions: [{ type: 'SRV', name: '_pg._tcp.db.data.svc.cluster.local' }],
    });
    const raw = (await srv.handle(q, 'udp')) as Buffer;
    const res = decode(raw);
    const plain = decode(encode({ ...res, type: 'response' }));
    expect(raw.length).toBeLessThan(encode({ ...res, type: 'response' }).length);
    expect(res.answers).toEqual(plain.answers);
    expect(res.additionals?.map((a) => `${a.name} ${(a as { data: string }).data}`)).toEqual([
      'db-0.db.data.svc.cluster.local 172.18.0.5',
      'db-1.db.data.svc.cluster.local 172.18.0.6',
    ]);
  });
});
