/**
 * The node's service proxy (kube-proxy's job, in user space): for every Service port, listen on
 * its node port on each of the node's addresses (the node IP, and the gateway of the node's pod
 * network so containers reach it) and forward each TCP connection to a ready endpoint on any node,
 * round-robin, retrying the next endpoint before the client sees an error (forward.ts).
 *
 * UDP ports are relayed per client flow (udp-relay.ts). Cluster IPs reach these same listeners:
 * the node's nat rules redirect `clusterIP:port` to the node port at the pod network's gateway
 * (cluster-ip-rules.ts), so both paths spread, retry and drain alike.
 *
 * `update()` takes the whole routing table from each sync. Endpoint changes swap the backend list
 * of a listener in place: established connections (and UDP flows) are never touched. A port that
 * disappears stops accepting; its open connections finish on their own.
 */
import { createServer, type Server } from 'node:net';
import type { RoutePort, ServiceRoute } from '../../schemas/agent-protocol';
import type { AgentLogger } from '../log';
import { type Backend, type ForwardOptions, forward, RoundRobin } from './forward';
import { UdpRelay } from './udp-relay';

interface Listener {
  nodePort: number;
  service: string;
  balancer: RoundRobin;
  /** Bound servers by address. */
  servers: Map<string, Server>;
}

interface UdpListener {
  service: string;
  balancer: RoundRobin;
  relays: Map<string, UdpRelay>;
}

export interface ServiceProxyOptions {
  log: AgentLogger;
  /** Told each table once its listeners are in place (the cluster IP rules follow it). */
  onApplied?: (routes: readonly ServiceRoute[]) => Promise<void>;
  /** How long a quiet UDP flow stays open (default 30 s). */
  udpIdleMs?: number;
  forward?: ForwardOptions;
  /**
   * A shorter way to an endpoint, if any: the agent maps its own node's address and host port to
   * the pod's IP and container port, skipping one hop through Docker's userland proxy.
   */
  shortcut?: (backend: Backend) => Backend | undefined;
}

export class ServiceProxy {
  private readonly listeners = new Map<number, Listener>();
  private readonly udp = new Map<number, UdpListener>();
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
      // Listeners first, then the redirects to them, so a redirected packet always finds one.
      .then(() => this.options.onApplied?.(this.routes))
      .catch((err) => {
        this.options.log.error('service proxy update failed', { error: String(err) });
      });
    return this.updating;
  }

  /** Open UDP flows on a node port (tests). */
  udpFlows(nodePort: number): number {
    let n = 0;
    for (const r of this.udp.get(nodePort)?.relays.values() ?? []) n += r.flowCount;
    return n;
  }

  /** Whether any route sends traffic to this endpoint (the pod manager waits for it to go). */
  routesTo(ip: string, port: number): boolean {
    return this.routes.some((r) => r.ports.some((p) => p.endpoints.some((e) => e.ip === ip && e.port === port)));
  }

  async close(): Promise<void> {
    await this.updating;
    await Promise.all([...this.listeners.values()].map((l) => this.closeListener(l)));
    this.listeners.clear();
    for (const u of this.udp.values()) for (const r of u.relays.values()) r.close();
    this.udp.clear();
  }

  private async apply(routes: ServiceRoute[]): Promise<void> {
    const wanted = new Map<number, { service: string; port: RoutePort }>();
    const wantedUdp = new Map<number, { service: string; port: RoutePort }>();
    for (const route of routes) {
      for (const port of route.ports) {
        if (!port.nodePort) continue;
        const table = port.protocol === 'TCP' ? wanted : port.protocol === 'UDP' ? wantedUdp : undefined;
        table?.set(port.nodePort, { service: `${route.namespace}/${route.name}`, port });
      }
    }
    this.applyUdp(wantedUdp);
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

  private applyUdp(wanted: Map<number, { service: string; port: RoutePort }>): void {
    for (const [nodePort, u] of this.udp) {
      if (wanted.has(nodePort)) continue;
      this.udp.delete(nodePort);
      for (const r of u.relays.values()) r.close();
    }
    for (const [nodePort, { service, port }] of wanted) {
      const backends: Backend[] = port.endpoints.map((e) => ({ host: e.ip, port: e.port }));
      let u = this.udp.get(nodePort);
      if (!u) {
        u = { service, balancer: new RoundRobin(backends), relays: new Map() };
        this.udp.set(nodePort, u);
      }
      u.service = service;
      u.balancer.backends = backends;
      for (const [address, relay] of u.relays) {
        if (this.addresses.includes(address)) continue;
        u.relays.delete(address);
        relay.close();
      }
      for (const address of this.addresses) {
        if (u.relays.has(address)) continue;
        const listener = u;
        const relay = new UdpRelay({
          address,
          port: nodePort,
          balancer: u.balancer,
          ...(this.options.udpIdleMs ? { idleMs: this.options.udpIdleMs } : {}),
          onBackendFailed: (b, reason) =>
            this.options.log.debug('UDP endpoint failed; trying the next', {
              service: listener.service,
              endpoint: `${b.host}:${b.port}`,
              reason,
            }),
        });
        u.relays.set(address, relay);
        relay.listen().catch((err) => {
          if (listener.relays.get(address) === relay) listener.relays.delete(address);
          this.options.log.warn('cannot listen on UDP node port', {
            service: listener.service,
            address: `${address}:${nodePort}`,
            error: String((err as Error).message),
          });
        });
      }
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
