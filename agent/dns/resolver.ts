/**
 * One query in, one answer out, whatever carried it: parse (wire.ts), answer from the cluster
 * zone (answer.ts) or forward (forwarder.ts), encode. The zone is rebuilt only when the agent's
 * route table is a new one (the service proxy swaps the whole table on each change), so a lookup
 * costs a map read.
 */
import { decode, encode } from 'dns-packet';
import type { ServiceRoute } from '../../schemas/agent-protocol';
import { answerQuestion, DEFAULT_TTL } from './answer';
import { Forwarder, ForwarderBusyError, type Upstream } from './forwarder';
import { encodeReply, errorReply, parseQuery, type Query, type Reply } from './wire';
import { ClusterZone } from './zone';

export interface ResolverOptions {
  /** The routes the agent holds now (read-only: the service proxy owns them). */
  routes: () => readonly ServiceRoute[];
  /** The cluster domain, `cluster.local` by default. */
  domain: string;
  upstreams: () => Upstream[];
  ttl?: number;
  forwardTimeoutMs?: number;
  maxInFlight?: number;
  now?: () => number;
}

export class DnsResolver {
  private zone: ClusterZone | undefined;
  private zoneOf: readonly ServiceRoute[] | undefined;
  private serial = 0;
  private readonly forwarder: Forwarder;
  private readonly domain: string;

  constructor(private readonly options: ResolverOptions) {
    this.domain = options.domain.toLowerCase().replace(/^\.|\.$/g, '');
    this.forwarder = new Forwarder({
      upstreams: options.upstreams,
      ...(options.forwardTimeoutMs !== undefined ? { timeoutMs: options.forwardTimeoutMs } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    });
  }

  /** The answer to send back, or undefined to send nothing (a response, a runt). */
  async handle(raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const parsed = parseQuery(raw);
    if (parsed.kind === 'drop') return undefined;
    if (parsed.kind === 'error') return parsed.reply;
    const query = parsed.query;
    const outcome = answerQuestion(query.question, this.currentZone(), this.serial, this.options.ttl ?? DEFAULT_TTL);
    if (outcome.kind === 'forward') return this.forward(query, transport);
    if (outcome.chase) await this.chase(outcome.reply, outcome.chase);
    return encodeReply(query, outcome.reply, transport);
  }

  private currentZone(): ClusterZone {
    const routes = this.options.routes();
    if (!this.zone || routes !== this.zoneOf) {
      this.zone = new ClusterZone(routes, this.domain);
      this.zoneOf = routes;
      // The SOA serial moves with the zone, in seconds as CoreDNS's does.
      this.serial = Math.max(this.serial + 1, Math.floor((this.options.now ?? Date.now)() / 1000)) >>> 0;
    }
    return this.zone;
  }

  private async forward(query: Query, transport: 'udp' | 'tcp'): Promise<Buffer> {
    const fail = (rcode: 'SERVFAIL' | 'REFUSED') => errorReply(query.id, 0, query.recursionDesired, rcode);
    try {
      return (await this.forwarder.query(query.raw, transport)) ?? fail('SERVFAIL');
    } catch (err) {
      if (err instanceof ForwarderBusyError) return fail('REFUSED');
      throw err;
    }
  }

  /** Appends upstream's records for an ExternalName's target; on no answer the CNAME stands alone. */
  private async chase(reply: Reply, target: { name: string; type: 'A' | 'AAAA' }): Promise<void> {
    const ask = encode({
      type: 'query',
      id: 0,
      flags: 0x0100,
      questions: [{ type: target.type, name: target.name, class: 'IN' }],
    });
    const raw = await this.forwarder.query(ask, 'udp').catch(() => undefined);
    if (!raw) return;
    try {
      const got = decode(raw);
      reply.answers.push(...(got.answers ?? []).filter((a) => a.type === 'CNAME' || a.type === target.type));
    } catch {
      // A malformed upstream answer adds nothing.
    }
  }
}
