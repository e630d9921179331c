/**
 * The light simulator's HTTP: a JSON POST over one keep-alive connection pool shared by every
 * node of the process (node:http, as the agent's client; one pool rather than one per node, so
 * 2,500 nodes cost one pool's bookkeeping). Each call can be cut (the socket is destroyed, as an
 * agent aborting a held sync does), and carries `x-ferry-sim-wait`, the `waitSeconds` it asked for,
 * and `x-ferry-sim-sent`, when it was sent, which the server ignores and the bench's server probe
 * (bench/scale/server-probe.ts) reads to tell held syncs from those answered at once and to time
 * a call from its sending, queueing before the server read it included. Held syncs stream beats
 * as the agent's do when the server offers them (`postWithBeats`).
 */
import { type ClientRequest, Agent as HttpAgent, type RequestOptions, request } from 'node:http';
import { BEAT_HEAD_MS, BeatsUnhonouredError, beatsUnhonoured, WAKE } from '../../agent/beat-call';
import { SYNC_BEATS_HEADER, type SyncBeatsOffer } from '../../schemas/agent-beats';

export const SIM_WAIT_HEADER = 'x-ferry-sim-wait';
/** When the client sent the call (epoch ms, fractional): the server probe measures from it, the machine's clock being one. */
export const SIM_SENT_HEADER = 'x-ferry-sim-sent';

/** An answer's bytes, kept as they came: most of a large sync answer (the routes) is never decoded. */
export class Answer {
  constructor(
    readonly status: number,
    private readonly chunks: Buffer[],
  ) {}

  text(): string {
    return this.bytes().toString('utf8');
  }

  bytes(): Buffer {
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
  }

  /** The first bytes at most, decoded (a character cut at the end is dropped). */
  head(bytes: number): string {
    const first = this.chunks[0];
    const buf = first && first.length >= bytes ? first : Buffer.concat(this.chunks);
    return buf.subarray(0, bytes).toString('utf8');
  }

  /** The last bytes at most, decoded. */
  tail(bytes: number): string {
    const last = this.chunks[this.chunks.length - 1];
    const buf = last && last.length >= bytes ? last : Buffer.concat(this.chunks);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  }

  get size(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

export interface Call {
  answer: Promise<Answer>;
  /** Cuts the call short (its promise rejects). */
  cut(): void;
  /** Whether it went on a kept-alive connection (false: it paid a connect). */
  reused(): boolean;
  /** A beat-streamed call to a server whose offer has `wakes`: sends the wake byte (the server answers now). */
  wake?(): void;
}

export class LightHttp {
  private readonly pool: HttpAgent;
  private readonly host: string;
  private readonly port: number;
  private readonly open = new Set<ClientRequest>();

  constructor(baseUrl: string, sockets: number) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:')
      throw new Error(`the light simulator speaks plain HTTP (loopback), not ${url.protocol}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    // Every node holds one call at a time: keep as many idle sockets as nodes, or the pool closes
    // the surplus after a burst and the next burst pays a connect each (Node keeps 256 by default).
    this.pool = new HttpAgent({ keepAlive: true, maxFreeSockets: sockets, scheduling: 'lifo' });
  }

  /** A POST's options: the node's credential, JSON, and the bench's wait and sent-at headers. */
  private options(
    path: string,
    token: string,
    timeoutMs: number,
    waitSeconds: number,
    framing: Record<string, string | number>,
  ): RequestOptions {
    return {
      host: this.host,
      port: this.port,
      path,
      method: 'POST',
      agent: this.pool,
      timeout: timeoutMs,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...framing,
        [SIM_WAIT_HEADER]: String(waitSeconds),
        [SIM_SENT_HEADER]: (performance.timeOrigin + performance.now()).toFixed(2),
      },
    };
  }

  post(path: string, token: string, body: string, waitSeconds: number, timeoutMs: number): Call {
    let req: ClientRequest | undefined;
    const answer = new Promise<Answer>((resolve, reject) => {
      req = request(
        this.options(path, token, timeoutMs, waitSeconds, { 'content-length': Buffer.byteLength(body) }),
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(new Answer(res.statusCode ?? 0, chunks)));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('connection closed mid-response')));
        },
      );
      const r = req;
      this.open.add(r);
      r.on('close', () => this.open.delete(r));
      r.on('timeout', () => r.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      r.on('error', reject);
      r.end(body);
    });
    return { answer, cut: () => req?.destroy(new Error('cut')), reused: () => req?.reusedSocket ?? false };
  }

  /**
   * A held sync whose body streams beats, as the agent's (agent/beat-call.ts): the JSON line, a
   * beat every `offer.everySeconds`, the body's end once the answer is in; rejects with
   * BeatsUnhonouredError when no head comes within BEAT_HEAD_MS or a 200 comes without the header.
   */
  postWithBeats(path: string, token: string, body: string, offer: SyncBeatsOffer, timeoutMs: number): Call {
    let req: ClientRequest | undefined;
    const answer = new Promise<Answer>((resolve, reject) => {
      let beat: NodeJS.Timeout | undefined;
      const r = request(
        this.options(path, token, timeoutMs, offer.holdSeconds, {
          'transfer-encoding': 'chunked',
          [SYNC_BEATS_HEADER]: '1',
        }),
        (res) => {
          clearTimeout(headDue);
          if (beatsUnhonoured(res)) {
            r.destroy();
            reject(new BeatsUnhonouredError('answered without taking the beats'));
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            clearInterval(beat);
            r.end();
            resolve(new Answer(res.statusCode ?? 0, chunks));
          });
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('connection closed mid-response')));
        },
      );
      req = r;
      const headDue = setTimeout(() => {
        r.destroy(new BeatsUnhonouredError(`no answer head within ${BEAT_HEAD_MS} ms`));
      }, BEAT_HEAD_MS);
      this.open.add(r);
      r.on('close', () => {
        this.open.delete(r);
        clearTimeout(headDue);
        clearInterval(beat);
      });
      r.on('timeout', () => r.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      r.on('error', reject);
      r.write(`${body}\n`);
      beat = setInterval(() => {
        if (!r.destroyed) r.write('.');
      }, offer.everySeconds * 1000);
    });
    const wake = () => {
      if (req && !req.destroyed && !req.writableEnded) req.write(WAKE);
    };
    return {
      answer,
      cut: () => req?.destroy(new Error('cut')),
      reused: () => req?.reusedSocket ?? false,
      ...(offer.wakes ? { wake } : {}),
    };
  }

  /** Cuts every call in flight and closes the pool's sockets. */
  close(): void {
    for (const r of this.open) r.destroy(new Error('stopped'));
    this.pool.destroy();
  }
}
