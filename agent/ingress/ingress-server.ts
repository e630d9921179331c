/**
 * The node's built-in ingress (ferry's IngressClass `ferry`): HTTP on the node address' port 80
 * and HTTPS on 443 by default, routing each request by its host and path (match.ts) to a ready
 * endpoint of the Service the rule names, found in the service routes the node already holds
 * (the same endpoints the node proxy uses, round-robin, the next one tried when one refuses).
 *
 * `update()` takes the ingress table and the routes from each sync; in-flight requests keep the
 * backend they chose. Answers of its own: 404 when no rule and no default backend matches, 503
 * when the Service has no such port or no ready endpoint, 502 when every endpoint refused.
 * The HTTPS listener starts with the first certificate and picks one per connection by SNI
 * (certificates.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { IngressServiceRef, IngressTable, ServiceRoute } from '../../schemas/agent-protocol';
import type { AgentLogger } from '../log';
import { type Backend, RoundRobin } from '../proxy/forward';
import { CertificateStore } from './certificates';
import { answer, type ForwardContext, forwardRequest, forwardUpgrade } from './forward-http';
import { type CompiledTable, compile, match, requestPath } from './match';

export interface IngressServerOptions {
  log: AgentLogger;
  /** Address to listen on (the node's). */
  address: string;
  /** Undefined: that listener is off (`--ingress-http-port off`); 0: any free port (tests). */
  httpPort: number | undefined;
  httpsPort: number | undefined;
  connectTimeoutMs?: number;
  /** As the service proxy's: this node's own endpoints reached at the pod's IP directly. */
  shortcut?: (backend: Backend) => Backend | undefined;
}

const EMPTY: IngressTable = { rules: [], defaults: [], tls: [] };

export class IngressServer {
  private table: CompiledTable = compile(EMPTY);
  private readonly routes = new Map<string, ServiceRoute>();
  /** Round-robin cursors by `namespace/name:port`. */
  private readonly balancers = new Map<string, RoundRobin>();
  private readonly certs: CertificateStore;
  private http: Server | undefined;
  private https: Server | undefined;
  private updating: Promise<void> = Promise.resolve();

  constructor(private readonly options: IngressServerOptions) {
    this.certs = new CertificateStore((ingress, error) =>
      options.log.warn('ingress TLS certificate unusable; its hosts get no HTTPS', { ingress, error }),
    );
  }

  /** Applies a table and the routes (either may be left out: kept as they were); calls are serialised. */
  update(table: IngressTable | undefined, routes: readonly ServiceRoute[] | undefined): Promise<void> {
    if (table) {
      this.table = compile(table);
      this.certs.set(table.tls);
    }
    if (routes) {
      this.routes.clear();
      for (const r of routes) this.routes.set(`${r.namespace}/${r.name}`, r);
    }
    this.updating = this.updating
      .then(() => this.listen())
      .catch((err) => this.options.log.error('ingress update failed', { error: String(err) }));
    return this.updating;
  }

  async close(): Promise<void> {
    await this.updating;
    for (const s of [this.http, this.https]) {
      if (!s) continue;
      const closed = new Promise<void>((r) => s.close(() => r()));
      // Upgraded (WebSocket) connections are not idle ones: an agent that stops cuts them too.
      s.closeAllConnections();
      await closed;
    }
    this.http = undefined;
    this.https = undefined;
  }

  /** Where `ref` sends traffic now: its endpoints in round-robin order, or why there are none. */
  backendsFor(ref: IngressServiceRef): Backend[] | string {
    const route = this.routes.get(`${ref.namespace}/${ref.name}`);
    if (!route) return `service "${ref.namespace}/${ref.name}" not found`;
    const port = route.ports.find((p) => (typeof ref.port === 'number' ? p.port === ref.port : p.name === ref.port));
    if (port?.protocol !== 'TCP') return `service "${ref.namespace}/${ref.name}" has no TCP port ${ref.port}`;
    if (port.endpoints.length === 0) return `service "${ref.namespace}/${ref.name}" has no ready endpoint`;
    const key = `${ref.namespace}/${ref.name}:${port.port}`;
    let rr = this.balancers.get(key);
    if (!rr) {
      rr = new RoundRobin();
      this.balancers.set(key, rr);
    }
    rr.backends = port.endpoints.map((e) => ({ host: e.ip, port: e.port }));
    const shortcut = this.options.shortcut;
    const order = rr.order();
    return shortcut ? order.map((b) => shortcut(b) ?? b) : order;
  }

  private context(proto: 'http' | 'https', port: number): ForwardContext {
    return {
      proto,
      port,
      ...(this.options.connectTimeoutMs ? { connectTimeoutMs: this.options.connectTimeoutMs } : {}),
      onBackendFailed: (b, reason) =>
        this.options.log.debug('ingress endpoint failed; trying the next', { endpoint: `${b.host}:${b.port}`, reason }),
    };
  }

  /** The backends for a request, or the answer already sent. */
  private resolve(req: IncomingMessage): Backend[] | { status: number; text: string } {
    const m = match(this.table, req.headers.host, requestPath(req.url ?? '/'));
    if (!m) return { status: 404, text: 'no Ingress rule matches this host and path\n' };
    const backends = this.backendsFor(m.backend);
    return typeof backends === 'string' ? { status: 503, text: `${backends}\n` } : backends;
  }

  private handler(proto: 'http' | 'https', port: number) {
    const ctx = this.context(proto, port);
    return {
      request: (req: IncomingMessage, res: ServerResponse) => {
        const target = this.resolve(req);
        if (!Array.isArray(target)) return answer(res, target.status, target.text);
        void forwardRequest(req, res, target, ctx);
      },
      upgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => {
        const target = this.resolve(req);
        if (!Array.isArray(target)) {
          socket.on('error', () => {});
          socket.end(
            `HTTP/1.1 ${target.status} ${target.status === 404 ? 'Not Found' : 'Service Unavailable'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
          );
          return;
        }
        void forwardUpgrade(req, socket, head, target, ctx);
      },
    };
  }

  /** Binds what is not bound yet (HTTPS once there is a certificate); a failed bind is retried on the next update. */
  private async listen(): Promise<void> {
    const { address, httpPort, httpsPort } = this.options;
    if (!this.http && httpPort !== undefined) {
      const h = this.handler('http', httpPort);
      const server = createHttpServer({ requestTimeout: 60_000, headersTimeout: 20_000 }, h.request);
      server.on('upgrade', h.upgrade);
      this.http = await this.bind(server, address, httpPort);
    }
    if (!this.https && httpsPort !== undefined && this.certs.size > 0) {
      const h = this.handler('https', httpsPort);
      const server = createHttpsServer(
        {
          requestTimeout: 60_000,
          headersTimeout: 20_000,
          SNICallback: (name, cb) => {
            const ctx = this.certs.contextFor(name);
            if (ctx) cb(null, ctx);
            else cb(new Error(`no certificate for ${JSON.stringify(name).slice(0, 80)}`));
          },
        },
        h.request,
      );
      server.on('upgrade', h.upgrade);
      server.on('tlsClientError', () => {});
      this.https = await this.bind(server, address, httpsPort);
    }
  }

  private async bind(server: Server, address: string, port: number): Promise<Server | undefined> {
    server.on('clientError', (_err, socket) => socket.destroy());
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.options.log.warn('ingress listener error', { error: String(err) }));
      return server;
    } catch (err) {
      this.options.log.warn('cannot listen for ingress traffic', {
        address: `${address}:${port}`,
        error: String((err as Error).message),
      });
      return undefined;
    }
  }

  /** The port actually bound (tests pass 0). */
  boundPort(proto: 'http' | 'https'): number | undefined {
    const a = (proto === 'http' ? this.http : this.https)?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }
}
