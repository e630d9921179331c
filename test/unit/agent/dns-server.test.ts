/**
 * The node DNS server on real sockets (127.0.0.1, free ports): cluster names over UDP and TCP,
 * asked by Node's own resolver (c-ares) as a client would; names outside the cluster forwarded
 * to upstream resolvers (a fake one here) with the client's id restored, the next resolver tried
 * when one is silent, SERVFAIL when none answers, REFUSED past the in-flight bound; and the TCP
 * side's limits (oversized frames, idle connections).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect, createServer, type Server } from 'node:net';
import { decode, encode } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeDnsServer } from '../../../agent/dns/server';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const log = { debug() {}, info() {}, warn() {}, error() {} };
const routes: ServiceRoute[] = [
  {
    namespace: 'default',
    name: 'backend',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP', endpoints: [] }],
  },
  { namespace: 'default', name: 'search', externalName: 'search.example.com', ports: [] },
];

/** A fake upstream resolver on UDP and TCP: `*.example.com` A 192.0.2.7, anything else NXDOMAIN; `slow.example.com` never answers. */
class FakeUpstream {
  udp!: UdpSocket;
  tcp!: Server;
  port = 0;
  seen: string[] = [];

  answer(raw: Buffer): Buffer | undefined {
    const q = decode(raw);
    const question = q.questions?.[0];
    if (!question) return undefined;
    this.seen.push(question.name);
    if (question.name === 'slow.example.com') return undefined;
    const found = question.name.endsWith('example.com') && question.type === 'A';
    return encode({
      type: 'response',
      id: q.id,
      flags: 0x0180 | (found ? 0 : 3),
      questions: [question],
      answers: found ? [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.7' }] : [],
    });
  }

  /** UDP and TCP on one port: a free UDP port may be taken for TCP, so try again until both bind. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.bindBoth();
        return;
      } catch (err) {
        this.udp.close();
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
      }
    }
  }

  private async bindBoth(): Promise<void> {
    this.udp = createSocket('udp4');
    await new Promise<void>((r) => this.udp.bind(0, '127.0.0.1', r));
    this.port = this.udp.address().port;
    this.udp.on('message', (msg, from) => {
      const reply = this.answer(msg);
      if (reply) this.udp.send(reply, from.port, from.address);
    });
    this.tcp = createServer((s) => {
      s.on('error', () => {});
      s.once('data', (chunk: Buffer) => {
        const reply = this.answer(chunk.subarray(2, 2 + chunk.readUInt16BE(0)));
        if (!reply) return;
        const frame = Buffer.alloc(2);
        frame.writeUInt16BE(reply.length);
        s.end(Buffer.concat([frame, reply]));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.port, '127.0.0.1', () => {
        this.tcp.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.udp.close();
    await new Promise((r) => this.tcp.close(r));
  }
}

/** A UDP port nothing answers on. */
async function silentPort(): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

async function udpAsk(port: number, raw: Buffer, host = '127.0.0.1', timeoutMs = 3000): Promise<Buffer> {
  const s = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer')), timeoutMs);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      s.send(raw, port, host);
    });
  } finally {
    s.close();
  }
}

const query = (name: string, id = 99) =>
  encode({ type: 'query', id, flags: 0x0100, questions: [{ type: 'A', name, class: 'IN' }] });
const frame = (raw: Buffer) => {
  const f = Buffer.alloc(2);
  f.writeUInt16BE(raw.length);
  return Buffer.concat([f, raw]);
};

describe('node DNS server on sockets', () => {
  const upstream = new FakeUpstream();
  let silent: UdpSocket;
  let server: NodeDnsServer;
  let port = 0;

  beforeAll(async () => {
    await upstream.start();
    silent = await silentPort();
    server = new NodeDnsServer({
      routes: () => routes,
      domain: 'cluster.local',
      // The silent one first: the forwarder must move on to the next.
      upstreams: () => [
        { host: '127.0.0.1', port: silent.address().port },
        { host: '127.0.0.1', port: upstream.port },
      ],
      forwardTimeoutMs: 150,
      log,
      port: 0,
      tcpIdleMs: 300,
    });
    await server.listen('127.0.0.1');
    port = server.address?.port as number;
  });

  afterAll(async () => {
    await server.close();
    await upstream.stop();
    silent.close();
  });

  it("answers a cluster name to Node's own resolver (c-ares) over UDP", async () => {
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    expect(await resolver.resolve4('backend.default.svc.cluster.local')).toEqual(['10.96.0.10']);
    expect(await resolver.resolveSrv('_http._tcp.backend.default.svc.cluster.local')).toEqual([
      { name: 'backend.default.svc.cluster.local', port: 8080, priority: 0, weight: 100 },
    ]);
    await expect(resolver.resolve4('nope.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('forwards a name outside the cluster upstream and returns its answer under the client id', async () => {
    const raw = await udpAsk(port, query('www.example.com', 0xbeef));
    const res = decode(raw);
    expect(res.id).toBe(0xbeef);
    expect(res.answers?.map((a) => (a as { data: string }).data)).toEqual(['192.0.2.7']);
    expect(upstream.seen).toContain('www.example.com');
  });

  it('chases an ExternalName target upstream, so a stub resolver gets the address with the CNAME', async () => {
    const res = decode(await udpAsk(port, query('search.default.svc.cluster.local')));
    expect(res.answers?.map((a) => a.type)).toEqual(['CNAME', 'A']);
    expect(res.answers?.map((a) => (a as { data: string }).data)).toEqual(['search.example.com', '192.0.2.7']);
  });

  it('answers SERVFAIL when no upstream answers in time', async () => {
    const started = Date.now();
    const raw = await udpAsk(port, query('slow.example.com', 5));
    expect(raw.readUInt16BE(0)).toBe(5);
    expect(raw.readUInt16BE(2) & 0xf).toBe(2);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('answers several queries pipelined on one TCP connection, and forwards over TCP', async () => {
    const sock = connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const done = new Promise<void>((resolve, reject) => {
      setTimeout(() => reject(new Error('TCP answers missing')), 3000);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (replies.length === 2) resolve();
      });
    });
    sock.write(
      Buffer.concat([frame(query('backend.default.svc.cluster.local', 1)), frame(query('tcp.example.com', 2))]),
    );
    await done;
    sock.destroy();
    const [a, b] = replies.map((r) => decode(r));
    expect(a?.id).toBe(1);
    expect(a?.answers?.map((x) => (x as { data: string }).data)).toEqual(['10.96.0.10']);
    expect(b?.id).toBe(2);
    expect(b?.answers?.map((x) => (x as { data: string }).data)).toEqual(['192.0.2.7']);
  });

  it('hangs up on a TCP frame longer than any query', async () => {
    const sock = connect(port, '127.0.0.1');
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => {});
    sock.write(Buffer.from([0xff, 0xff, 0, 0]));
    await closed;
  });

  it('closes a TCP connection that stays idle', async () => {
    const sock = connect(port, '127.0.0.1');
    sock.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((r) => sock.on('close', () => r()));
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('moves to another address when asked, and stops answering on the old one', async () => {
    const other = new NodeDnsServer({
      routes: () => routes,
      domain: 'cluster.local',
      upstreams: () => [],
      log,
      port: 0,
    });
    await other.listen('127.0.0.1');
    const first = other.address?.port as number;
    expect(decode(await udpAsk(first, query('backend.default.svc.cluster.local'))).answers).toHaveLength(1);
    await other.listen('127.0.0.2');
    expect(other.address?.address).toBe('127.0.0.2');
    const moved = other.address?.port as number;
    expect(decode(await udpAsk(moved, query('backend.default.svc.cluster.local'), '127.0.0.2')).answers).toHaveLength(
      1,
    );
    await expect(udpAsk(first, query('backend.default.svc.cluster.local'), '127.0.0.1', 300)).rejects.toThrow(
      /no UDP answer/,
    );
    await other.close();
  });
});

describe('node DNS forwarder bounds', () => {
  it('answers REFUSED past the in-flight bound instead of queueing', async () => {
    const silent = await silentPort();
    const server = new NodeDnsServer({
      routes: () => [],
      domain: 'cluster.local',
      upstreams: () => [{ host: '127.0.0.1', port: silent.address().port }],
      forwardTimeoutMs: 500,
      maxInFlight: 2,
      log,
      port: 0,
    });
    try {
      const answers = await Promise.all(
        [1, 2, 3, 4].map((id) => server.resolver.handle(query('x.example.com', id), 'udp')),
      );
      const rcodes = answers.map((a) => (a as Buffer).readUInt16BE(2) & 0xf);
      // Two waited for the silent upstream (SERVFAIL), two were refused at once.
      expect(rcodes.sort()).toEqual([2, 2, 5, 5]);
    } finally {
      silent.close();
      await server.close();
    }
  });
});
