/**
 * The node DNS server's answers for cluster names, fed routes directly (as the sync loop hands
 * them to the service proxy): the names Kubernetes' DNS specification gives Services, headless
 * Services and their pods, SRV for named ports, ExternalName CNAMEs, and the negative answers a
 * stub resolver's search list walks through.
 */

import { createSocket } from 'node:dgram';
import { type Answer, type DecodedPacket, decode, encode, type RecordType } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upstream } from '../../../agent/dns/forwarder';
import { DnsResolver } from '../../../agent/dns/resolver';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const backend: ServiceRoute = {
  namespace: 'default',
  name: 'backend',
  clusterIP: '10.96.0.10',
  ports: [
    { name: 'http', port: 8080, protocol: 'TCP', nodePort: 30080, endpoints: [] },
    { port: 9090, protocol: 'TCP', endpoints: [] },
    { name: 'dns', port: 53, protocol: 'UDP', endpoints: [] },
  ],
};
const db: ServiceRoute = {
  namespace: 'data',
  name: 'db',
  clusterIP: 'None',
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [] }],
  pods: [
    { ip: '172.18.0.5', hostname: 'db-0', subdomain: 'db' },
    { ip: '172.18.0.6', hostname: 'db-1', subdomain: 'db' },
    { ip: '172.18.0.7' },
  ],
};
const external: ServiceRoute = {
  namespace: 'default',
  name: 'search',
  type: 'ExternalName',
  externalName: 'search.example.com',
  ports: [],
};
const alias: ServiceRoute = {
  namespace: 'default',
  name: 'alias',
  type: 'ExternalName',
  externalName: 'backend.default.svc.cluster.local',
  ports: [],
};

function resolverOf(routes: ServiceRoute[], domain = 'cluster.local', upstreams: Upstream[] = []): DnsResolver {
  return new DnsResolver({ routes: () => routes, domain, upstreams: () => upstreams, forwardTimeoutMs: 200 });
}

async function ask(r: DnsResolver, name: string, type: RecordType = 'A'): Promise<DecodedPacket> {
  const q = encode({ type: 'query', id: 4242, flags: 0x0100, questions: [{ type, name, class: 'IN' }] });
  const raw = await r.handle(q, 'udp');
  if (!raw) throw new Error('no answer');
  return decode(raw);
}

const rcodeOf = (p: DecodedPacket) => (p as unknown as { rcode: string }).rcode;
const data = (answers: Answer[] | undefined, type: string) =>
  (answers ?? []).filter((a) => a.type === type).map((a) => (a as { data: unknown }).data);

describe('node DNS: Service names', () => {
  const r = resolverOf([backend, db, external, alias]);

  it('answers a Service FQDN with its cluster IP, authoritatively, with a 5 s TTL', async () => {
    const res = await ask(r, 'backend.default.svc.cluster.local');
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(res.flag_aa).toBe(true);
    expect(res.id).toBe(4242);
    expect(data(res.answers, 'A')).toEqual(['10.96.0.10']);
    expect((res.answers?.[0] as { ttl?: number } | undefined)?.ttl).toBe(5);
  });

  it('answers the FQDN with a trailing dot and in any letter case, echoing the name as asked', async () => {
    const res = await ask(r, 'BackEnd.Default.SVC.cluster.local.');
    expect(data(res.answers, 'A')).toEqual(['10.96.0.10']);
    expect(res.answers?.[0]?.name).toBe('BackEnd.Default.SVC.cluster.local');
  });

  it('answers NXDOMAIN with the zone SOA for a Service that does not exist', async () => {
    const res = await ask(r, 'nothere.default.svc.cluster.local');
    expect(rcodeOf(res)).toBe('NXDOMAIN');
    expect(res.answers).toEqual([]);
    const soa = res.authorities?.[0] as { type: string; name: string; data: { minimum: number } };
    expect(soa.type).toBe('SOA');
    expect(soa.name).toBe('cluster.local');
    expect(soa.data.minimum).toBe(5);
  });

  it('answers NXDOMAIN for the search-list candidates that do not exist (backend.data.default.svc...)', async () => {
    // `backend.default` from a pod in `data` is first tried as backend.default.data.svc.cluster.local.
    expect(rcodeOf(await ask(r, 'backend.default.data.svc.cluster.local'))).toBe('NXDOMAIN');
    expect(rcodeOf(await ask(r, 'backend.default.svc.svc.cluster.local'))).toBe('NXDOMAIN');
    expect(rcodeOf(await ask(r, 'backend.default.svc.cluster.local.cluster.local'))).toBe('NXDOMAIN');
  });

  it('answers NOERROR with no records for AAAA of a known name (IPv4 cluster)', async () => {
    const res = await ask(r, 'backend.default.svc.cluster.local', 'AAAA');
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(res.answers).toEqual([]);
    expect(res.authorities?.[0]?.type).toBe('SOA');
  });

  it('answers NOERROR with no records for the names in between (namespace, svc, the domain)', async () => {
    for (const name of ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'data.svc.cluster.local']) {
      const res = await ask(r, name);
      expect(rcodeOf(res), name).toBe('NOERROR');
      expect(res.answers, name).toEqual([]);
    }
  });

  it('answers the SOA of the cluster domain itself', async () => {
    const res = await ask(r, 'cluster.local', 'SOA');
    expect(data(res.answers, 'SOA')).toHaveLength(1);
  });

  it('answers SRV for each named port of a Service, with the Service port and its name as target', async () => {
    const res = await ask(r, '_http._tcp.backend.default.svc.cluster.local', 'SRV');
    expect(data(res.answers, 'SRV')).toEqual([
      { priority: 0, weight: 100, port: 8080, target: 'backend.default.svc.cluster.local' },
    ]);
    expect(data(res.additionals, 'A')).toEqual(['10.96.0.10']);
    const udp = await ask(r, '_dns._udp.backend.default.svc.cluster.local', 'SRV');
    expect(data(udp.answers, 'SRV')).toEqual([
      { priority: 0, weight: 100, port: 53, target: 'backend.default.svc.cluster.local' },
    ]);
  });

  it('has no SRV for a port without a name, nor for the wrong protocol', async () => {
    expect(rcodeOf(await ask(r, '_http._udp.backend.default.svc.cluster.local', 'SRV'))).toBe('NXDOMAIN');
    expect(rcodeOf(await ask(r, '_9090._tcp.backend.default.svc.cluster.local', 'SRV'))).toBe('NXDOMAIN');
  });

  it('answers the pod address for <a-b-c-d>.<ns>.pod.<domain>', async () => {
    expect(data((await ask(r, '10-1-2-3.default.pod.cluster.local')).answers, 'A')).toEqual(['10.1.2.3']);
    expect(rcodeOf(await ask(r, '10-1-2-300.default.pod.cluster.local'))).toBe('NXDOMAIN');
  });

  it('answers a Service that has no cluster IP yet with NOERROR and no records', async () => {
    const res = await ask(
      resolverOf([{ ...backend, clusterIP: undefined } as ServiceRoute]),
      'backend.default.svc.cluster.local',
    );
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(res.answers).toEqual([]);
  });
});

describe('node DNS: headless Services and their pods', () => {
  const r = resolverOf([backend, db]);

  it("answers a headless Service's name with every pod's address", async () => {
    const res = await ask(r, 'db.data.svc.cluster.local');
    expect(data(res.answers, 'A')).toEqual(['172.18.0.5', '172.18.0.6', '172.18.0.7']);
  });

  it('answers hostname.subdomain.ns.svc.<domain> for a pod with a hostname and the Service as subdomain', async () => {
    expect(data((await ask(r, 'db-0.db.data.svc.cluster.local')).answers, 'A')).toEqual(['172.18.0.5']);
    expect(data((await ask(r, 'db-1.db.data.svc.cluster.local')).answers, 'A')).toEqual(['172.18.0.6']);
  });

  it('names a pod without a hostname by its address with dashes, as CoreDNS does', async () => {
    expect(data((await ask(r, '172-18-0-7.db.data.svc.cluster.local')).answers, 'A')).toEqual(['172.18.0.7']);
  });

  it("ignores a pod's hostname when its subdomain is another name", async () => {
    const other = resolverOf([{ ...db, pods: [{ ip: '172.18.0.9', hostname: 'x', subdomain: 'other' }] }]);
    expect(rcodeOf(await ask(other, 'x.db.data.svc.cluster.local'))).toBe('NXDOMAIN');
    expect(data((await ask(other, '172-18-0-9.db.data.svc.cluster.local')).answers, 'A')).toEqual(['172.18.0.9']);
  });

  it('answers SRV of a headless Service with one target per pod, and their addresses as additionals', async () => {
    const res = await ask(r, '_pg._tcp.db.data.svc.cluster.local', 'SRV');
    expect(data(res.answers, 'SRV')).toEqual([
      { priority: 0, weight: 33, port: 5432, target: 'db-0.db.data.svc.cluster.local' },
      { priority: 0, weight: 33, port: 5432, target: 'db-1.db.data.svc.cluster.local' },
      { priority: 0, weight: 33, port: 5432, target: '172-18-0-7.db.data.svc.cluster.local' },
    ]);
    expect(data(res.additionals, 'A')).toEqual(['172.18.0.5', '172.18.0.6', '172.18.0.7']);
  });

  it('answers a headless Service with no ready pods with NOERROR and no records', async () => {
    const res = await ask(resolverOf([{ ...db, pods: [] }]), 'db.data.svc.cluster.local');
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(res.answers).toEqual([]);
  });
});

describe('node DNS: ExternalName Services', () => {
  it('answers an ExternalName Service with a CNAME to its external name, for any type', async () => {
    const r = resolverOf([external]);
    for (const type of ['CNAME', 'TXT'] as const) {
      const res = await ask(r, 'search.default.svc.cluster.local', type);
      expect(data(res.answers, 'CNAME'), type).toEqual(['search.example.com']);
    }
  });

  it('follows a CNAME to a cluster name with its A record in the same answer', async () => {
    const res = await ask(resolverOf([backend, alias]), 'alias.default.svc.cluster.local');
    expect(data(res.answers, 'CNAME')).toEqual(['backend.default.svc.cluster.local']);
    expect(data(res.answers, 'A')).toEqual(['10.96.0.10']);
  });

  it('keeps the CNAME alone when no upstream answers for the external target', async () => {
    const res = await ask(resolverOf([external]), 'search.default.svc.cluster.local');
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(data(res.answers, 'CNAME')).toEqual(['search.example.com']);
  });
});

describe('node DNS: the cluster domain', () => {
  it('serves a configured cluster domain and not the default one', async () => {
    const r = resolverOf([backend], 'corp.internal');
    expect(data((await ask(r, 'backend.default.svc.corp.internal')).answers, 'A')).toEqual(['10.96.0.10']);
    // cluster.local is now an outside name: forwarded, and with no upstream it fails.
    expect(rcodeOf(await ask(r, 'backend.default.svc.cluster.local'))).toBe('SERVFAIL');
  });

  it('follows the route table: a new table is a new zone, a removed Service is NXDOMAIN', async () => {
    let routes: ServiceRoute[] = [backend];
    const r = new DnsResolver({ routes: () => routes, domain: 'cluster.local', upstreams: () => [] });
    expect(data((await ask(r, 'backend.default.svc.cluster.local')).answers, 'A')).toEqual(['10.96.0.10']);
    routes = [{ ...backend, clusterIP: '10.96.0.11' }];
    expect(data((await ask(r, 'backend.default.svc.cluster.local')).answers, 'A')).toEqual(['10.96.0.11']);
    routes = [];
    expect(rcodeOf(await ask(r, 'backend.default.svc.cluster.local'))).toBe('NXDOMAIN');
  });
});

describe('node DNS: AAAA in an IPv4 cluster', () => {
  const r = resolverOf([backend, db]);

  it('answers NODATA (NOERROR, no records, the SOA) for AAAA of every kind of cluster name, never NXDOMAIN', async () => {
    // glibc's getaddrinfo(AF_UNSPEC) asks A and AAAA together: an NXDOMAIN for AAAA would fail the lookup.
    for (const name of [
      'db.data.svc.cluster.local',
      'db-0.db.data.svc.cluster.local',
      '172-18-0-7.db.data.svc.cluster.local',
      '10-1-2-3.default.pod.cluster.local',
      '_http._tcp.backend.default.svc.cluster.local',
      'default.svc.cluster.local',
    ]) {
      const res = await ask(r, name, 'AAAA');
      expect(rcodeOf(res), name).toBe('NOERROR');
      expect(res.flag_aa, name).toBe(true);
      expect(res.answers, name).toEqual([]);
      expect(res.authorities?.[0]?.type, name).toBe('SOA');
    }
  });

  it('still answers NXDOMAIN for AAAA of a name that does not exist', async () => {
    expect(rcodeOf(await ask(r, 'nothere.default.svc.cluster.local', 'AAAA'))).toBe('NXDOMAIN');
  });
});

/** A fake upstream on UDP that answers every PTR with `upstream.example.` (so a test sees what was forwarded). */
async function ptrUpstream(): Promise<{ upstream: Upstream; asked: string[]; close: () => void }> {
  const socket = createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (msg, from) => {
    const q = decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    asked.push(`${question.type} ${question.name}`);
    const answers: Answer[] =
      question.type === 'PTR'
        ? [{ type: 'PTR', name: question.name, ttl: 30, class: 'IN', data: 'upstream.example' }]
        : [];
    socket.send(
      encode({ type: 'response', id: q.id, flags: 0x8180, questions: [question], answers }),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { upstream: { host: '127.0.0.1', port: socket.address().port }, asked, close: () => socket.close() };
}

describe('node DNS: reverse names (PTR)', () => {
  const otherDb: ServiceRoute = { ...db, name: 'db-alias', pods: [{ ip: '172.18.0.7' }] };
  let fake: Awaited<ReturnType<typeof ptrUpstream>>;
  let r: DnsResolver;
  beforeAll(async () => {
    fake = await ptrUpstream();
    r = resolverOf([backend, db, otherDb, external], 'cluster.local', [fake.upstream]);
  });
  afterAll(() => fake.close());

  it("answers a cluster IP's reverse name with its Service's full name, authoritatively", async () => {
    const res = await ask(r, '10.0.96.10.in-addr.arpa', 'PTR');
    expect(rcodeOf(res)).toBe('NOERROR');
    expect(res.flag_aa).toBe(true);
    expect(data(res.answers, 'PTR')).toEqual(['backend.default.svc.cluster.local']);
    expect(res.answers?.[0]?.name).toBe('10.0.96.10.in-addr.arpa');
    expect((res.answers?.[0] as { ttl?: number } | undefined)?.ttl).toBe(5);
  });

  it('answers a headless pod by its hostname.subdomain name, and by the dashed address without a hostname', async () => {
    expect(data((await ask(r, '5.0.18.172.in-addr.arpa', 'PTR')).answers, 'PTR')).toEqual([
      'db-0.db.data.svc.cluster.local',
    ]);
    expect(data((await ask(r, '7.0.18.172.IN-ADDR.ARPA.', 'PTR')).answers, 'PTR')).toEqual([
      '172-18-0-7.db.data.svc.cluster.local',
      '172-18-0-7.db-alias.data.svc.cluster.local',
    ]);
  });

  it('answers in the configured cluster domain', async () => {
    const corp = resolverOf([backend], 'corp.internal');
    expect(data((await ask(corp, '10.0.96.10.in-addr.arpa', 'PTR')).answers, 'PTR')).toEqual([
      'backend.default.svc.corp.internal',
    ]);
  });

  it('forwards the reverse name of an address the cluster does not hold, and returns what upstream said', async () => {
    const res = await ask(r, '8.8.8.8.in-addr.arpa', 'PTR');
    expect(data(res.answers, 'PTR')).toEqual(['upstream.example']);
    expect(res.flag_aa).toBe(false);
    expect(fake.asked).toContain('PTR 8.8.8.8.in-addr.arpa');
  });

  it('forwards partial, over-long, non-canonical and out-of-range reverse names rather than guessing', async () => {
    for (const name of [
      '0.96.10.in-addr.arpa',
      '1.10.0.96.10.in-addr.arpa',
      '010.0.96.10.in-addr.arpa',
      '10.0.96.256.in-addr.arpa',
      'x.0.96.10.in-addr.arpa',
      'in-addr.arpa',
    ]) {
      const res = await ask(r, name, 'PTR');
      expect(data(res.answers, 'PTR'), name).toEqual(['upstream.example']);
    }
  });

  it('forwards other types at a known reverse name, as CoreDNS falls through for them', async () => {
    const res = await ask(r, '10.0.96.10.in-addr.arpa', 'A');
    expect(res.flag_aa).toBe(false);
    expect(fake.asked).toContain('A 10.0.96.10.in-addr.arpa');
  });

  it('forwards the reverse name of a cluster IP whose Service is gone', async () => {
    const gone = resolverOf([], 'cluster.local', [fake.upstream]);
    expect(data((await ask(gone, '10.0.96.10.in-addr.arpa', 'PTR')).answers, 'PTR')).toEqual(['upstream.example']);
  });

  it('truncates a PTR answer too large for UDP (a pod in 60 headless Services), and answers it whole over TCP', async () => {
    const many: ServiceRoute[] = Array.from({ length: 60 }, (_, i) => ({
      ...db,
      name: `headless-service-number-${i}`,
      pods: [{ ip: '172.18.0.9' }],
    }));
    const big = resolverOf(many);
    const q = encode({
      type: 'query',
      id: 7,
      flags: 0x0100,
      questions: [{ type: 'PTR', name: '9.0.18.172.in-addr.arpa', class: 'IN' }],
    });
    const udp = decode((await big.handle(q, 'udp')) as Buffer);
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const tcp = decode((await big.handle(q, 'tcp')) as Buffer);
    expect(data(tcp.answers, 'PTR')).toHaveLength(60);
  });
});
