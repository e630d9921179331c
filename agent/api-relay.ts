/**
 * How a pod reaches the ferry API: a TCP relay the agent runs on its pod network's gateway (each
 * node has its own Docker bridge network, so the address is per node), forwarding each connection
 * to the API URL the agent itself uses. Over HTTPS bytes pass through untouched: the client talks
 * TLS to the API server itself and verifies its certificate with the mounted `ca.crt`.
 *
 * Over plain HTTP (`ferry up`) the relay terminates TLS itself with the node's own certificate
 * (relay-cert.ts; pods' `ca.crt` is its CA) and forwards plaintext, because in-cluster clients
 * (client-go, client-node) always dial https. A connection whose first byte is not a TLS
 * handshake is still passed through as plaintext, so `http://` clients such as busybox wget keep
 * working. Without a certificate (no openssl on the node) it passes everything through as before.
 *
 * The relay is the endpoint of the `kubernetes` Service on this node (api-route.ts puts its
 * address into that Service's route), so `kubernetes.default.svc:443` and the Service's cluster IP
 * reach it through the node's service proxy like any Service.
 *
 * What the pod is told (`KUBERNETES_SERVICE_HOST`/`_PORT`/`_PORT_HTTPS` and the `KUBERNETES_PORT*`
 * link variables, as for Kubernetes' `kubernetes` Service): when the relay terminates TLS and the
 * node serves cluster IPs, the Service's cluster IP and port 443, as in Kubernetes (the relay's
 * certificate names that IP and the `kubernetes.default.svc...` names). Otherwise the gateway
 * address and the relay's port; or, when the API is HTTPS under a DNS name, that name (with an
 * /etc/hosts entry pointing it at the gateway) so the certificate's name matches what the client
 * dialled. An HTTPS API known by IP address only verifies when its certificate also names the
 * gateway address.
 */
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { AgentLogger } from './log';
import type { RelayIdentity } from './relay-cert';

/** The first byte of a TLS record carrying a handshake (RFC 8446 5.1: ContentType handshake). */
const TLS_HANDSHAKE = 0x16;

/** Bounds what one node's pods can hold open against the API through it. */
const MAX_CONNECTIONS = 512;

export class ApiRelay {
  private server: Server | undefined;
  private bound: { host: string; port: number } | undefined;
  private readonly target: URL;
  private readonly open = new Set<Socket>();
  private tls: TlsServer | undefined;
  private service: { host: string; port: number } | undefined;

  /** `identity` gives the certificate for a gateway address; only asked when the API is plain HTTP. */
  constructor(
    apiUrl: string,
    private readonly log: AgentLogger,
    private readonly identity?: (host: string) => Promise<RelayIdentity | undefined>,
  ) {
    this.target = new URL(apiUrl);
  }

  /** Whether pods get TLS from the relay itself (plain HTTP API and a certificate made). */
  get terminatesTls(): boolean {
    return this.tls !== undefined;
  }

  /** Where the relay listens (the gateway and its port), once it does. */
  get address(): { host: string; port: number } | undefined {
    return this.bound ? { ...this.bound } : undefined;
  }

  /**
   * The `kubernetes` Service's cluster IP and port, when this node serves cluster IPs (undefined
   * when it does not, or the Service has none): what pods are told when the relay terminates TLS.
   */
  serveService(service: { host: string; port: number } | undefined): void {
    this.service = service;
  }

  /** Listens on `host:port` (the pod network's gateway), or on a free port when that one is taken. */
  async listen(host: string, port: number): Promise<void> {
    if (this.bound?.host === host) return;
    await this.close();
    const id = this.target.protocol === 'http:' && this.identity ? await this.identity(host) : undefined;
    const tls = id ? new TlsServer({ cert: id.cert, key: id.key }, (client) => this.forward(client)) : undefined;
    if (tls)
      tls.on('tlsClientError', (err) => this.log.debug('api relay: TLS handshake failed', { error: err.message }));
    const server = createServer((client) => (tls ? this.sniff(client, tls) : this.forward(client)));
    server.maxConnections = MAX_CONNECTIONS;
    const tryListen = (p: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await tryListen(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await tryListen(0);
    }
    const address = server.address();
    this.server = server;
    this.tls = tls;
    this.bound = { host, port: typeof address === 'object' && address ? address.port : port };
    this.log.info('api relay listening', {
      address: `${host}:${this.bound.port}`,
      api: this.target.origin,
      tls: tls ? 'terminated here' : 'passed through',
    });
  }

  /**
   * Picks up a reissued serving certificate (relay-cert.ts renews it 30 days before its end) for
   * new connections; open ones keep theirs. A no-op when the relay passes bytes through.
   */
  async renew(): Promise<void> {
    const host = this.bound?.host;
    if (!this.tls || !host || !this.identity) return;
    const id = await this.identity(host);
    if (id && this.tls) this.tls.setSecureContext({ cert: id.cert, key: id.key });
  }

  /** The variables every container gets (none until the relay listens). */
  env(): { name: string; value: string }[] {
    if (!this.bound) return [];
    // Only over the relay's own TLS: an API's own certificate does not name the cluster IP.
    const viaService = this.tls && this.service ? this.service : undefined;
    const host = viaService?.host ?? this.serviceHost();
    const port = String(viaService?.port ?? this.bound.port);
    const url = `tcp://${host}:${port}`;
    return [
      { name: 'KUBERNETES_SERVICE_HOST', value: host },
      { name: 'KUBERNETES_SERVICE_PORT', value: port },
      { name: 'KUBERNETES_SERVICE_PORT_HTTPS', value: port },
      { name: 'KUBERNETES_PORT', value: url },
      { name: `KUBERNETES_PORT_${port}_TCP`, value: url },
      { name: `KUBERNETES_PORT_${port}_TCP_PROTO`, value: 'tcp' },
      { name: `KUBERNETES_PORT_${port}_TCP_PORT`, value: port },
      { name: `KUBERNETES_PORT_${port}_TCP_ADDR`, value: host },
    ];
  }

  /** The /etc/hosts entry a pod needs when it is told the API's DNS name. */
  hostAliases(): { ip: string; hostnames: string[] }[] {
    if (!this.bound || this.serviceHost() === this.bound.host) return [];
    return [{ ip: this.bound.host, hostnames: [this.serviceHost()] }];
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.tls = undefined;
    this.bound = undefined;
    for (const socket of this.open) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serviceHost(): string {
    const name = this.target.hostname.replace(/^\[|\]$/g, '');
    const byName = this.target.protocol === 'https:' && isIP(name) === 0 && name !== 'localhost';
    return byName ? name : (this.bound?.host ?? '');
  }

  /** TLS when the client opens with a handshake, else plaintext straight through. */
  private sniff(client: Socket, tls: TlsServer): void {
    this.open.add(client);
    client.on('close', () => this.open.delete(client));
    client.on('error', () => client.destroy());
    // Put back, then handed on: the TLS socket reads what is buffered first, and so does the pipe.
    client.once('data', (first: Buffer) => {
      client.pause();
      client.unshift(first);
      if (first[0] === TLS_HANDSHAKE) tls.emit('connection', client);
      else this.forward(client);
    });
  }

  private forward(client: Socket): void {
    const port = Number(this.target.port || (this.target.protocol === 'https:' ? 443 : 80));
    const upstream = connect(port, this.target.hostname.replace(/^\[|\]$/g, ''));
    this.open.add(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => {
      this.open.delete(client);
      upstream.destroy();
    });
    client.on('error', drop);
    upstream.on('error', (err) => {
      this.log.debug('api relay: upstream failed', { error: err.message });
      drop();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
