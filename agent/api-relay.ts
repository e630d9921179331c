/**
 * How a pod reaches the ferry API: a TCP relay the agent runs on its pod network's gateway (each
 * node has its own Docker bridge network, so the address is per node), forwarding each connection
 * to the API URL the agent itself uses. Bytes pass through untouched: over HTTPS the client talks
 * TLS to the API server itself and verifies its certificate with the mounted `ca.crt`.
 *
 * What the pod is told (`KUBERNETES_SERVICE_HOST`/`_PORT`/`_PORT_HTTPS` and the `KUBERNETES_PORT*`
 * link variables, as for Kubernetes' `kubernetes` Service): the gateway address and the relay's
 * port; or, when the API is HTTPS under a DNS name, that name (with an /etc/hosts entry pointing
 * it at the gateway) so the certificate's name matches what the client dialled. An HTTPS API
 * known by IP address only verifies when its certificate also names the gateway address.
 *
 * Once `kubernetes.default` has a cluster IP (issue 15), the variables would name that IP and port
 * 443 and the node's service proxy would carry it, making this relay a plain endpoint of it.
 */
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import type { AgentLogger } from './log';

/** Bounds what one node's pods can hold open against the API through it. */
const MAX_CONNECTIONS = 512;

export class ApiRelay {
  private server: Server | undefined;
  private bound: { host: string; port: number } | undefined;
  private readonly target: URL;
  private readonly open = new Set<Socket>();

  constructor(
    apiUrl: string,
    private readonly log: AgentLogger,
  ) {
    this.target = new URL(apiUrl);
  }

  /** Listens on `host:port` (the pod network's gateway), or on a free port when that one is taken. */
  async listen(host: string, port: number): Promise<void> {
    if (this.bound?.host === host) return;
    await this.close();
    const server = createServer((client) => this.forward(client));
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
    this.bound = { host, port: typeof address === 'object' && address ? address.port : port };
    this.log.info('api relay listening', { address: `${host}:${this.bound.port}`, api: this.target.origin });
  }

  /** The variables every container gets (none until the relay listens). */
  env(): { name: string; value: string }[] {
    if (!this.bound) return [];
    const host = this.serviceHost();
    const port = String(this.bound.port);
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
    this.bound = undefined;
    for (const socket of this.open) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serviceHost(): string {
    const name = this.target.hostname.replace(/^\[|\]$/g, '');
    const byName = this.target.protocol === 'https:' && isIP(name) === 0 && name !== 'localhost';
    return byName ? name : (this.bound?.host ?? '');
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
