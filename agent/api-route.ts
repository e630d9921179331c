/**
 * The `kubernetes` Service on this node. Its route comes from the API with no endpoints (it has no
 * selector: in Kubernetes its endpoints are the API servers themselves); at intake, before the
 * routes reach the service proxy, the agent puts its own API relay (api-relay.ts) in as the one
 * endpoint of each TCP port, so `kubernetes.default.svc:443` and the Service's cluster IP reach
 * the API from every pod through the same listeners and cluster IP rules as any Service. The
 * DNS server and the Service variables read the proxy's table, so they see the same route.
 *
 * It also tells the relay the Service's cluster IP and port (what pods' `KUBERNETES_SERVICE_HOST`
 * and `_PORT` become when the relay terminates TLS and the node serves cluster IPs) and renews the
 * relay's certificate when that address changes, so the certificate names it.
 */
import { isIPv4 } from 'node:net';
import type { ServiceRoute } from '../schemas/agent-protocol';
import type { AgentLogger } from './log';

export const KUBERNETES_ROUTE = { namespace: 'default', name: 'kubernetes' } as const;

export interface Address {
  host: string;
  port: number;
}

const isKubernetes = (r: ServiceRoute) =>
  r.namespace === KUBERNETES_ROUTE.namespace && r.name === KUBERNETES_ROUTE.name;

/**
 * The routes with the `kubernetes` Service's TCP ports sent to the relay (none while the relay
 * does not listen: a connection then fails at once rather than going to whatever the API sent).
 */
export function withRelayEndpoint(routes: ServiceRoute[], relay: Address | undefined): ServiceRoute[] {
  return routes.map((r) =>
    isKubernetes(r)
      ? {
          ...r,
          ports: r.ports.map((p) => ({
            ...p,
            endpoints: relay && p.protocol === 'TCP' ? [{ ip: relay.host, port: relay.port }] : [],
          })),
        }
      : r,
  );
}

/**
 * The routes but the `kubernetes` Service's, for the Service variables of pods in `default`: the
 * relay alone says what `KUBERNETES_SERVICE_*` are (api-relay.ts), since only it knows whether the
 * certificate pods will see names the cluster IP (over an HTTPS API it does not).
 */
export function exceptKubernetes(routes: readonly ServiceRoute[]): readonly ServiceRoute[] {
  return routes.some(isKubernetes) ? routes.filter((r) => !isKubernetes(r)) : routes;
}

/** The `kubernetes` Service's cluster IP and its `https` port (else its first TCP one), if it has them. */
export function kubernetesServiceAddress(routes: readonly ServiceRoute[]): Address | undefined {
  const route = routes.find(isKubernetes);
  const ip = route?.clusterIP;
  if (!route || ip === undefined || !isIPv4(ip)) return undefined;
  const tcp = route.ports.filter((p) => p.protocol === 'TCP');
  const port = (tcp.find((p) => p.name === 'https') ?? tcp[0])?.port;
  return port === undefined ? undefined : { host: ip, port };
}

/** What the intake needs of the relay (api-relay.ts). */
export interface RelayView {
  readonly address: Address | undefined;
  serveService(service: Address | undefined): void;
  renew(): Promise<void>;
}

export interface ApiRouteIntakeOptions {
  /** The service proxy: where the routes go on. */
  proxy: { update(routes: ServiceRoute[]): Promise<void> };
  relay: RelayView;
  /** Whether this node redirects cluster IPs (its nat rules are in place). */
  clusterIPsServed: () => boolean;
  log: AgentLogger;
}

/** The sync loop's service sink in front of the proxy (agent.ts's ServiceSink). */
export class ApiRouteIntake {
  private last: ServiceRoute[] | undefined;
  private serviceIP: string | undefined;

  constructor(private readonly o: ApiRouteIntakeOptions) {}

  /** The `kubernetes` Service's cluster IP as last received: the relay's certificate names it. */
  get clusterIPs(): string[] {
    return this.serviceIP ? [this.serviceIP] : [];
  }

  async update(routes: ServiceRoute[]): Promise<void> {
    this.last = routes;
    const service = kubernetesServiceAddress(routes);
    this.o.relay.serveService(service && this.o.clusterIPsServed() ? service : undefined);
    if (service?.host !== this.serviceIP) {
      this.serviceIP = service?.host;
      // The certificate must name the new address before a pod is told to dial it.
      await this.o.relay.renew().catch((err) =>
        this.o.log.warn('api relay: could not renew its certificate for the kubernetes Service', {
          error: String((err as Error).message),
        }),
      );
    }
    await this.o.proxy.update(withRelayEndpoint(routes, this.o.relay.address));
  }

  /** The relay or the cluster IP rules changed: the last table again, with the relay where it is now. */
  refresh(): Promise<void> {
    return this.last ? this.update(this.last) : Promise.resolve();
  }
}
