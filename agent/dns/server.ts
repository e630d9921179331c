/**
 * The node's DNS server: UDP and TCP on one address (the gateway of the node's pod network, port
 * 53, what every pod's resolv.conf names), each query answered by the resolver. Several local
 * nodes on one machine each have their own pod network, so their servers never share an address.
 *
 * Bounded: TCP connections (at most `maxTcpConnections`, each closed after `tcpIdleMs` without a
 * query, as CoreDNS's 10 s read timeout), TCP frames no longer than a query may be, queries of a
 * connection answered one after another with a short queue; forwarded queries are bounded in the
 * forwarder. Hostile bytes end in an error reply or nothing, never in a thrown error.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import type { AgentLogger } from '../log';
import { DnsResolver, type ResolverOptions } from './resolver';
import { MAX_QUERY_BYTES } from './wire';

export interface NodeDnsServerOptions extends ResolverOptions {
  log: AgentLogger;
  /** 53 unless a test says otherwise (0: any free port). */
  port?: number;
  maxTcpConnections?: number;
  tcpIdleMs?: number;
}

/** Queries one TCP connection may have waiting behind the one being answered. */
const TCP_QUEUE = 16;

export class NodeDnsServer {
  readonly resolver: DnsResolver;
  private bound: { address: string; port: number; udp: Socket; tcp: Server } | undefined;

  constructor(private readonly options: NodeDnsServerOptions) {
    this.resolver = new DnsResolver(options);
  }

  /** Where it listens (after `listen`). */
  get address(): { address: string; port: number } | undefined {
    return this.bound && { address: this.bound.address, port: this.bound.port };
  }

  /** Listens on `address` (moving from another one); throws when a port cannot be bound, so the caller can retry. */
  async listen(address: string): Promise<void> {
    if (this.bound?.address === address) return;
    await this.close();
    const port = this.options.port ?? 53;
    // Port 0 (tests): UDP picks a free port and TCP takes the same number, which may be taken: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        this.bound = await this.bindPair(address, port);
        break;
      } catch (err) {
        if (port !== 0 || attempt >= 5)
          throw new Error(`DNS server: cannot listen on ${address}:${port}: ${(err as Error).message}`);
      }
    }
    const { udp, tcp } = this.bound;
    udp.on('error', (err) => this.options.log.warn('DNS UDP socket error', { error: String(err) }));
    tcp.on('error', (err) => this.options.log.warn('DNS TCP listener error', { error: String(err) }));
    udp.on('message', (msg, from) => {
      this.resolver.handle(msg, 'udp').then(
        (reply) => {
          if (reply) udp.send(reply, from.port, from.address);
        },
        (err) => this.options.log.warn('DNS query failed', { error: String(err) }),
      );
    });
  }

  private async bindPair(address: string, port: number) {
    const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    const tcp = createServer({ pauseOnConnect: false }, (socket) => this.serveTcp(socket));
    tcp.maxConnections = this.options.maxTcpConnections ?? 64;
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, address, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const udpPort = udp.address().port;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(udpPort, address, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { address, port: udpPort, udp, tcp };
    } catch (err) {
      udp.close();
      tcp.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const b = this.bound;
    this.bound = undefined;
    if (!b) return;
    b.udp.close();
    await new Promise<void>((resolve) => b.tcp.close(() => resolve()));
  }

  /** RFC 1035 §4.2.2 / RFC 7766: two-byte length, then the message; several per connection. */
  private serveTcp(socket: TcpSocket): void {
    socket.setTimeout(this.options.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on('error', () => {});
    let buffered: Buffer = Buffer.alloc(0);
    const queue: Buffer[] = [];
    let answering = false;
    const next = async (): Promise<void> => {
      if (answering) return;
      answering = true;
      try {
        for (let q = queue.shift(); q; q = queue.shift()) {
          const reply = await this.resolver.handle(q, 'tcp').catch(() => undefined);
          if (!reply || socket.destroyed) continue;
          const frame = Buffer.alloc(2);
          frame.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([frame, reply]));
        }
      } finally {
        answering = false;
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        // A frame longer than any query, or a client that sends faster than it reads: hang up.
        if (length > MAX_QUERY_BYTES || queue.length >= TCP_QUEUE) {
          socket.destroy();
          return;
        }
        if (buffered.length < 2 + length) break;
        queue.push(Buffer.from(buffered.subarray(2, 2 + length)));
        buffered = buffered.subarray(2 + length);
      }
      void next();
    });
  }
}
