/**
 * Load balancers of the `azure` provider: a Standard Load Balancer per Service, as the Azure
 * cloud-provider makes one per cluster (here one per Service, so deleting a Service deletes all of it):
 * - a Standard, static public IP `ferry-<hash>-ip`;
 * - the load balancer `ferry-<hash>`: one frontend on that IP, one IP-based backend pool holding
 *   the Ready nodes' addresses (in the Cloud's virtual network), and per Service port a TCP probe
 *   on its node port and a rule from the Service port to the node port (Azure translates ports).
 * Both are PUTs by name (Azure's create-or-update), so every ensure is idempotent, and the whole
 * load balancer is one PUT: rules, probes and pool members always match the Service and its nodes.
 * Both are tagged `ferry-cluster`, `ferry-service` (NAMESPACE/NAME) and `ferry-service-uid`.
 * Delete removes the load balancer, then its IP; "not found" is done. The network SDK is loaded
 * only when a Service meets an azure Cloud (azure.ts imports this file lazily).
 *
 * Cloud options: `virtualNetworkId` (else the virtual network of `subnetId` / `subnetIds`).
 */
import { createHash } from 'node:crypto';
import { NetworkManagementClient } from '@azure/arm-network';
import type { TokenCredential } from '@azure/identity';
import {
  CloudApiError,
  type CloudConfig,
  CloudConfigError,
  type LoadBalancerIngress,
  type LoadBalancerKey,
  type LoadBalancerNode,
  type LoadBalancerService,
  NotSupportedError,
} from './types';

export interface AzureNetworkOptions {
  credential: TokenCredential;
  endpoint?: string;
  pollIntervalMs?: number;
}

export class AzureLoadBalancers {
  private readonly network: NetworkManagementClient;
  private readonly poll: { updateIntervalInMs?: number };

  constructor(
    private readonly config: CloudConfig,
    options: AzureNetworkOptions,
  ) {
    const insecure = options.endpoint?.startsWith('http://') ?? false;
    this.network = new NetworkManagementClient(options.credential, config.subscriptionId as string, {
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(insecure ? { allowInsecureConnection: true } : {}),
    });
    // As for the compute client: a local fake endpoint over plain http gets no token at all.
    if (insecure) this.network.pipeline.removePolicy({ name: 'bearerTokenAuthenticationPolicy' });
    this.poll = options.pollIntervalMs !== undefined ? { updateIntervalInMs: options.pollIntervalMs } : {};
  }

  async ensure(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    const unsupported = service.ports.find((p) => p.protocol !== 'TCP');
    if (unsupported)
      throw new NotSupportedError(
        `azure: port ${unsupported.port}/${unsupported.protocol}: only TCP load balancers so far`,
      );
    const vnet = this.virtualNetworkId();
    const rg = this.config.resourceGroup as string;
    const location = this.config.region as string;
    const name = lbName(service);
    const tags = tagsOf(service);
    const what = `load balancer of ${service.namespace}/${service.name}`;

    const ip = await this.call(what, () =>
      this.network.publicIPAddresses.beginCreateOrUpdateAndWait(
        rg,
        `${name}-ip`,
        {
          location,
          sku: { name: 'Standard', tier: 'Regional' },
          publicIPAllocationMethod: 'Static',
          publicIPAddressVersion: 'IPv4',
          tags,
        },
        this.poll,
      ),
    );
    const lbId = `/subscriptions/${this.config.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/loadBalancers/${name}`;
    const frontend = { id: `${lbId}/frontendIPConfigurations/frontend` };
    const pool = { id: `${lbId}/backendAddressPools/nodes` };
    await this.call(what, () =>
      this.network.loadBalancers.beginCreateOrUpdateAndWait(
        rg,
        name,
        {
          location,
          sku: { name: 'Standard', tier: 'Regional' },
          tags,
          frontendIPConfigurations: [{ name: 'frontend', publicIPAddress: { id: ip.id as string } }],
          backendAddressPools: [
            {
              name: 'nodes',
              loadBalancerBackendAddresses: nodes
                .filter((n) => n.ready)
                .map((n) => ({ name: n.name, ipAddress: n.address, virtualNetwork: { id: vnet } })),
            },
          ],
          probes: service.ports.map((p) => ({
            name: `node-port-${p.nodePort}`,
            protocol: 'Tcp',
            port: p.nodePort,
            intervalInSeconds: 5,
            numberOfProbes: 2,
          })),
          loadBalancingRules: service.ports.map((p) => ({
            name: `port-${p.port}`,
            protocol: 'Tcp',
            frontendPort: p.port,
            backendPort: p.nodePort,
            frontendIPConfiguration: frontend,
            backendAddressPool: pool,
            probe: { id: `${lbId}/probes/node-port-${p.nodePort}` },
            idleTimeoutInMinutes: 4,
            enableFloatingIP: false,
            // The nodes reach the internet by their own addresses, not through the load balancer.
            disableOutboundSnat: true,
          })),
        },
        this.poll,
      ),
    );
    if (!ip.ipAddress) throw new CloudApiError(`azure: ${what}: public IP ${name}-ip has no address`);
    return { ip: ip.ipAddress, ports: service.ports.map((p) => ({ port: p.port, protocol: 'TCP' })) };
  }

  async delete(service: LoadBalancerKey): Promise<void> {
    const rg = this.config.resourceGroup as string;
    const name = lbName(service);
    const what = `deleting the load balancer of ${service.namespace}/${service.name}`;
    await this.gone(what, () => this.network.loadBalancers.beginDeleteAndWait(rg, name, this.poll));
    await this.gone(what, () => this.network.publicIPAddresses.beginDeleteAndWait(rg, `${name}-ip`, this.poll));
  }

  private virtualNetworkId(): string {
    const options = this.config.options ?? {};
    if (typeof options.virtualNetworkId === 'string' && options.virtualNetworkId) return options.virtualNetworkId;
    const subnets = [
      ...(typeof options.subnetId === 'string' ? [options.subnetId] : []),
      ...Object.values((options.subnetIds ?? {}) as Record<string, unknown>).map(String),
    ];
    const vnet = subnets.map((s) => /^(.*\/virtualNetworks\/[^/]+)\/subnets\/[^/]+$/i.exec(s)?.[1]).find(Boolean);
    if (!vnet)
      throw new CloudConfigError(
        `cloud ${this.config.name}: spec.options.virtualNetworkId (or a subnetId) is required for load balancers on azure`,
      );
    return vnet;
  }

  private async gone(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const e = err as { statusCode?: number; code?: string };
      if (e.statusCode === 404 || e.code === 'ResourceNotFound' || e.code === 'NotFound') return;
      throw translate(what, err);
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(what, err);
    }
  }
}

function translate(what: string, err: unknown): Error {
  const e = err as { statusCode?: number; code?: string; message?: string };
  return new CloudApiError(`azure: ${what}: ${e.code ?? e.statusCode ?? 'Error'}: ${e.message ?? String(err)}`, {
    cause: err,
  });
}

/** An Azure resource name (1-80: letters, digits, '-', '_', '.'), unique per cluster and Service. */
export function lbName(service: LoadBalancerKey): string {
  const hash = createHash('sha256').update(`${service.cluster}/${service.namespace}/${service.name}`).digest('hex');
  return `ferry-${hash.slice(0, 20)}`;
}

function tagsOf(service: LoadBalancerService): Record<string, string> {
  return {
    'ferry-cluster': service.cluster,
    'ferry-service': `${service.namespace}/${service.name}`,
    ...(service.uid ? { 'ferry-service-uid': service.uid } : {}),
  };
}
