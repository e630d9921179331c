/**
 * Forwarding to the node's own resolvers (CoreDNS's `forward . /etc/resolv.conf`): the query's
 * bytes as the client sent them, under a fresh random id on a fresh socket (so one upstream answer
 * can never be taken for another's), to each resolver in turn until one answers within the
 * timeout. Over TCP when the client asked over TCP, so a truncated answer's retry gets the whole
 * one. At most `maxInFlight` at once: beyond that the caller answers REFUSED, as CoreDNS's
 * `max_concurrent` does, rather than queueing without bound.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: () => Upstream[];
  /** Per resolver tried (default 2 s; glibc waits 5 s for each of its own). */
  timeoutMs?: number;
  maxInFlight?: number;
}

export class ForwarderBusyError extends Error {}

export class Forwarder {
  private inFlight = 0;

  constructor(private readonly options: ForwarderOptions) {}

  get busy(): number {
    return this.inFlight;
  }

  /**
   * The first upstream answer, with the client's id put back; undefined when none answered
   * (the caller answers SERVFAIL). Throws ForwarderBusyError past the in-flight bound.
   */
  async query(raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (this.inFlight >= (this.options.maxInFlight ?? 256)) throw new ForwarderBusyError('too many forwarded queries');
    this.inFlight++;
    try {
      const id = raw.readUInt16BE(0);
      const out = Buffer.from(raw);
      const ours = randomInt(0, 0x10000);
      out.writeUInt16BE(ours, 0);
      for (const upstream of this.options.upstreams().slice(0, 3)) {
        const answer = await (transport === 'udp' ? this.udp(upstream, out, ours) : this.tcp(upstream, out, ours));
        if (!answer) continue;
        answer.writeUInt16BE(id, 0);
        return answer;
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  private udp(upstream: Upstream, query: Buffer, id: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket(isIPv6(upstream.host) ? 'udp6' : 'udp4');
      const done = (answer?: Buffer) => {
        clearTimeout(timer);
        socket.close();
        resolve(answer);
      };
      const timer = setTimeout(() => done(), this.options.timeoutMs ?? 2000);
      socket.on('error', () => done());
      socket.on('message', (msg, from) => {
        // Only an answer from the resolver asked, to this query's id (anything else is ignored).
        if (from.address !== upstream.host || from.port !== upstream.port) return;
        if (msg.length < 12 || msg.readUInt16BE(0) !== id || !(msg.readUInt16BE(2) & 0x8000)) return;
        done(msg);
      });
      socket.send(query, upstream.port, upstream.host, (err) => {
        if (err) done();
      });
    });
  }

  private tcp(upstream: Upstream, query: Buffer, id: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: upstream.host, port: upstream.port });
      let got = Buffer.alloc(0);
      const done = (answer?: Buffer) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => done(), this.options.timeoutMs ?? 2000);
      socket.on('error', () => done());
      socket.on('close', () => done());
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 2) return;
        const length = got.readUInt16BE(0);
        if (got.length < 2 + length) return;
        const msg = got.subarray(2, 2 + length);
        done(msg.length >= 12 && msg.readUInt16BE(0) === id ? Buffer.from(msg) : undefined);
      });
      const frame = Buffer.alloc(2);
      frame.writeUInt16BE(query.length);
      socket.write(Buffer.concat([frame, query]));
    });
  }
}
