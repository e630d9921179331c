/**
 * The node's service proxy (kube-proxy's job, in user space): for every Service port, listen on
 * its node port on each of the node's addresses (the node IP, and the gateway of the node's pod
 * network so containers reach it) and forward each TCP connection to a ready endpoint on any node,
 * round-robin, retrying the next endpoint before the client sees an error (forward.ts).
 *
 * `update()` takes the whole routing table from each sync. Endpoint changes swap the backend list
 * of a listener in place: established connections are never touched. A port that disappears stops
 * accepting; its open connections finish on their own. UDP and SCTP ports are not proxied yet.
 */
import { createServer, type Server } from 'node:net';
import type { RoutePort, ServiceRoute } from '../../schemas/agent-protocol';
import type { AgentLogger } from '../log';
import { type Backend, type ForwardOptions, forward, RoundRobin } from './forward';

interface Listener {
  nodePort: number;
  service: string;
  balancer: RoundRobin;
  /** Bound servers by address. */
  servers: Map<string, Server>;
}

export interface ServiceProxyOptions {
  log: AgentLogger;
  forward?: ForwardOptions;
  /**
   * A shorter way to an endpoint, if any: the agent maps its own node's address and host port to
   * the pod's IP and container port, skipping one hop through Docker's userland proxy.
   */
  shortcut?: (backend: Backend) => Backend | undefined;
}

export class ServiceProxy {
  private readonly listeners = new Map<number, Listener>();
  private addresses: string[] = [];
  private routes: ServiceRoute[] = [];
  private updating: Promise<void> = Promise.resolve();

  constructor(private readonly options: ServiceProxyOptions) {}

  /** The table as last received. */
  get table(): readonly ServiceRoute[] {
    return this.routes;
  }

  /** Addresses to listen on (node IP, pod network gateway); applied with the next update. */
  setAddresses(addresses: string[]): Promise<void> {
    this.addresses = [...new Set(addresses.filter(Boolean))];
    return this.update(this.routes);
  }

  /** Applies a routing table; calls are serialised. */
  update(routes: ServiceRoute[]): Promise<void> {
    this.routes = routes;
    this.updating = this.updating
      .then(() => this.apply(this.routes))
      .catch((err) => {
        this.options.log.error('service proxy update failed', { error: String(err) });
      });
    return this.updating;
  }

  /** Whether any route sends traffic to this endpoint (the pod manager waits for it to go). */
  routesTo(ip: string, port: number): boolean {
    return this.routes.some((r) => r.ports.some((p) => p.endpoints.some((e) => e.ip === ip && e.port === port)));
  }

  async close(): Promise<void> {
    await this.updating;
    await Promise.all([...this.listeners.values()].map((l) => this.closeListener(l)));
    this.listeners.clear();
  }

  private async apply(routes: ServiceRoute[]): Promise<void> {
    const wanted = new Map<number, { service: string; port: RoutePort }>();
    for (const route of routes) {
      for (const port of route.ports) {
        if (port.protocol !== 'TCP' || !port.nodePort) continue;
        wanted.set(port.nodePort, { service: `${route.namespace}/${route.name}`, port });
      }
    }
    for (const [nodePort, l] of this.listeners) {
      if (wanted.has(nodePort)) continue;
      this.listeners.delete(nodePort);
      await this.closeListener(l);
    }
    for (const [nodePort, { service, port }] of wanted) {
      const backends: Backend[] = port.endpoints.map((e) => ({ host: e.ip, port: e.port }));
      let l = this.listeners.get(nodePort);
      if (!l) {
        l = { nodePort, service, balancer: new RoundRobin(backends), servers: new Map() };
        this.listeners.set(nodePort, l);
      }
      l.service = service;
      l.balancer.backends = backends;
      await this.bind(l);
    }
  }

  /** Listens on every address not yet bound (a failed bind is retried on the next update). */
  private async bind(l: Listener): Promise<void> {
    for (const [address, server] of l.servers) {
      if (!this.addresses.includes(address)) {
        l.servers.delete(address);
        server.close();
      }
    }
    for (const address of this.addresses) {
      if (l.servers.has(address)) continue;
      const server = createServer({ allowHalfOpen: true }, (client) => {
        client.on('error', () => {});
        const shortcut = this.options.shortcut;
        const order = l.balancer.order();
        forward(client, shortcut ? order.map((b) => shortcut(b) ?? b) : order, {
          ...this.options.forward,
          onBackendFailed: (b, reason) => {
            this.options.log.debug('endpoint failed; trying the next', {
              service: l.service,
              endpoint: `${b.host}:${b.port}`,
              reason,
            });
            this.options.forward?.onBackendFailed?.(b, reason);
          },
        });
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(l.nodePort, address, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) => this.options.log.warn('node port listener error', { error: String(err) }));
        l.servers.set(address, server);
      } catch (err) {
        this.options.log.warn('cannot listen on node port', {
          service: l.service,
          address: `${address}:${l.nodePort}`,
          error: String((err as Error).message),
        });
      }
    }
  }

  private async closeListener(l: Listener): Promise<void> {
    // close() stops accepting; connections already forwarded carry on until they end.
    for (const server of l.servers.values()) server.close();
    l.servers.clear();
  }
}

/**
 * Kubernetes-style service environment variables for a pod in `namespace`: `WEB_SERVICE_HOST`,
 * `WEB_SERVICE_PORT`, `WEB_SERVICE_PORT_HTTP`, ... pointing at `host` (an address of the pod's own
 * node its containers can reach) and the Service's node ports.
 */
export function serviceEnv(routes: readonly ServiceRoute[], namespace: string, host: string) {
  const env: { name: string; value: string }[] = [];
  for (const route of routes) {
    if (route.namespace !== namespace) continue;
    const tcp = route.ports.filter((p) => p.protocol === 'TCP' && p.nodePort);
    const first = tcp[0];
    if (!first) continue;
    const prefix = `${route.name.toUpperCase().replace(/-/g, '_')}_SERVICE`;
    env.push({ name: `${prefix}_HOST`, value: host }, { name: `${prefix}_PORT`, value: String(first.nodePort) });
    for (const p of tcp) {
      if (p.name)
        env.push({ name: `${prefix}_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`, value: String(p.nodePort) });
    }
  }
  return env;
}
