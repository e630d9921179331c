/**
 * What the node's DNS server answers for one question, as CoreDNS's kubernetes plugin does: names
 * under the cluster domain from the zone (authoritative, TTL 5 s like CoreDNS's default), a
 * negative answer carrying the zone's SOA so resolvers cache it for that long (RFC 2308), and
 * everything else forwarded. Pure: no sockets, no clock.
 */
import type { Answer, Question } from 'dns-packet';
import type { Reply } from './wire';
import type { ClusterZone, NameRecords } from './zone';

export const DEFAULT_TTL = 5;

export type Outcome =
  | {
      kind: 'reply';
      reply: Reply;
      /** An ExternalName's target outside the cluster: the server asks upstream and appends its answers. */
      chase?: { name: string; type: 'A' | 'AAAA' };
    }
  | { kind: 'forward' };

export function answerQuestion(q: Question, zone: ClusterZone, serial: number, ttl = DEFAULT_TTL): Outcome {
  if (q.class && q.class !== 'IN' && q.class !== 'ANY') return { kind: 'forward' };
  const name = q.name.toLowerCase().replace(/\.$/, '');
  if (name === 'in-addr.arpa' || name.endsWith('.in-addr.arpa')) return reverseAnswer(q, name, zone, ttl);
  const found = zone.lookup(name);
  if (found.kind === 'outside') return { kind: 'forward' };
  const soa = soaOf(zone.domain, serial, ttl);
  const negative = (rcode: Reply['rcode']): Outcome => ({
    kind: 'reply',
    reply: { rcode, authoritative: true, answers: [], authorities: [soa], additionals: [] },
  });
  if (found.kind === 'nxdomain') return negative('NXDOMAIN');
  if (found.kind === 'empty') {
    if (name === zone.domain && q.type === 'SOA')
      return {
        kind: 'reply',
        reply: { rcode: 'NOERROR', authoritative: true, answers: [soa], authorities: [], additionals: [] },
      };
    return negative('NOERROR');
  }
  const records = found.records;
  if (records.cname !== undefined) return cnameAnswer(q, records.cname, zone, serial, ttl);
  const answers = recordsOf(q.name, q.type, records, ttl);
  if (answers.length === 0) return negative('NOERROR');
  const additionals =
    q.type === 'SRV'
      ? records.srv.flatMap((s) => {
          const target = zone.lookup(s.target);
          return target.kind === 'records' ? recordsOf(s.target, 'A', target.records, ttl) : [];
        })
      : [];
  return { kind: 'reply', reply: { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals } };
}

/**
 * A reverse name: PTR records for an address the zone knows (a cluster IP, a headless Service's
 * pod), as CoreDNS's kubernetes plugin answers for `in-addr.arpa`; anything else (other types,
 * other addresses, partial names) goes upstream, as its `fallthrough in-addr.arpa` sends it on.
 */
function reverseAnswer(q: Question, name: string, zone: ClusterZone, ttl: number): Outcome {
  const ip = addressOfReverse(name);
  const targets = ip === undefined ? [] : zone.reverse(ip);
  // dns-packet's type names leave out ANY (255), which it decodes all the same.
  const type: string = q.type;
  if (targets.length === 0 || (type !== 'PTR' && type !== 'ANY')) return { kind: 'forward' };
  const answers: Answer[] = targets.map((target) => ({ type: 'PTR', name: q.name, ttl, class: 'IN', data: target }));
  return { kind: 'reply', reply: { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [] } };
}

/** `4.3.2.1.in-addr.arpa` -> `1.2.3.4`; undefined unless exactly four octets, written canonically. */
export function addressOfReverse(name: string): string | undefined {
  const labels = name.split('.');
  if (labels.length !== 6) return undefined;
  const octets = labels.slice(0, 4).reverse();
  const canonical = (o: string) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255;
  return octets.every(canonical) ? octets.join('.') : undefined;
}

/** The records of `type` at a name (`owner` as the client spelled it: resolvers match it byte for byte). */
function recordsOf(owner: string, type: string, records: NameRecords, ttl: number): Answer[] {
  const a = (): Answer[] => records.a.map((ip) => ({ type: 'A', name: owner, ttl, class: 'IN', data: ip }));
  const srv = (): Answer[] => {
    // Equal weights summing to ~100, as CoreDNS gives the targets of one SRV name.
    const weight = Math.max(1, Math.floor(100 / Math.max(1, records.srv.length)));
    return records.srv.map((s) => ({
      type: 'SRV',
      name: owner,
      ttl,
      class: 'IN',
      data: { priority: 0, weight, port: s.port, target: s.target },
    }));
  };
  if (type === 'A') return a();
  if (type === 'SRV') return srv();
  if (type === 'ANY') return [...a(), ...srv()];
  return [];
}

/**
 * An ExternalName Service: a CNAME for every type; for A/AAAA the target's records follow, from
 * the zone when the target is a cluster name, else from upstream (the server chases it), as
 * CoreDNS does, because a stub resolver does not chase CNAMEs itself.
 */
function cnameAnswer(q: Question, target: string, zone: ClusterZone, serial: number, ttl: number): Outcome {
  const cname: Answer = { type: 'CNAME', name: q.name, ttl, class: 'IN', data: target };
  const reply: Reply = { rcode: 'NOERROR', authoritative: true, answers: [cname], authorities: [], additionals: [] };
  if (q.type !== 'A' && q.type !== 'AAAA') return { kind: 'reply', reply };
  if (!zone.covers(target)) return { kind: 'reply', reply, chase: { name: target, type: q.type } };
  const inner = zone.lookup(target);
  // One step only: a cluster target that is itself an ExternalName is not followed (no loops).
  if (inner.kind === 'records' && inner.records.cname === undefined)
    reply.answers.push(...recordsOf(target, q.type, inner.records, ttl));
  if (reply.answers.length === 1) reply.authorities.push(soaOf(zone.domain, serial, ttl));
  return { kind: 'reply', reply };
}

function soaOf(domain: string, serial: number, ttl: number): Answer {
  return {
    type: 'SOA',
    name: domain,
    ttl,
    class: 'IN',
    // CoreDNS's SOA for the cluster zone: its refresh, retry, expire; the minimum is the TTL.
    data: {
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  };
}
