/**
 * Load balancers of the `gcp` provider: an external passthrough Network Load Balancer per Service,
 * the target-pool kind the GCE cloud-controller-manager makes:
 * - a regional target pool `ferry-<hash>` whose members are the Ready nodes' instances (members
 *   are added and removed as nodes come and go);
 * - a regional forwarding rule of the same name (TCP, EXTERNAL) to it, on the Service's node
 *   ports. A passthrough load balancer does not translate ports, and ferry's nodes serve a Service
 *   on its node ports, so clients reach `IP:nodePort`: `ingress.ports` says so.
 * Names come from a hash of cluster, namespace and Service, so every call finds what an earlier
 * one made: get first, insert when missing (409 alreadyExists counts as made). Each insert carries
 * a fresh `requestId`, so the SDK's own retries of one call run once on Compute Engine. The
 * forwarding rule is labelled `ferry-cluster`, `ferry-service` and `ferry-service-uid`; the target
 * pool (which has no labels) says the same in its description. Delete removes the rule, then the
 * pool. Each call waits for its region operation.
 *
 * Health: target pools take only legacy HTTP health checks, which @google-cloud/compute 6.15 has
 * no client for; so the pool has none and holds only Ready nodes (ferry's node readiness, from the
 * agents' heartbeats, stands in for it).
 *
 * Cloud: `region` is required (the Cloud's `spec.region`).
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  ForwardingRulesClient,
  type InstancesClient,
  type protos,
  RegionOperationsClient,
  TargetPoolsClient,
} from '@google-cloud/compute';
import { apiError } from './gcp-errors';
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

type GceOperation = protos.google.cloud.compute.v1.IOperation;
/** What an insert or delete resolves to: an operation handle whose `latestResponse` is the Operation. */
type Lro = { latestResponse: unknown };
type ClientOptions = NonNullable<ConstructorParameters<typeof InstancesClient>[0]>;

export class GcpLoadBalancers {
  private readonly pools: TargetPoolsClient;
  private readonly rules: ForwardingRulesClient;
  private readonly operations: RegionOperationsClient;
  private readonly region: string;

  constructor(
    config: CloudConfig,
    private readonly project: string,
    private readonly instances: InstancesClient,
    options: ClientOptions,
  ) {
    if (!config.region)
      throw new CloudConfigError(`cloud ${config.name}: spec.region is required for load balancers on gcp`);
    this.region = config.region;
    this.pools = new TargetPoolsClient({ ...options });
    this.rules = new ForwardingRulesClient({ ...options });
    this.operations = new RegionOperationsClient({ ...options });
  }

  async ensure(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    const unsupported = service.ports.find((p) => p.protocol !== 'TCP');
    if (unsupported)
      throw new NotSupportedError(
        `gcp: port ${unsupported.port}/${unsupported.protocol}: only TCP load balancers so far`,
      );
    const name = lbName(service);
    const scope = { project: this.project, region: this.region };
    const what = `load balancer of ${service.namespace}/${service.name}`;
    const members = await this.instanceUrls(
      service.cluster,
      nodes.filter((n) => n.ready),
    );

    let pool = await this.call(what, () => found(this.pools.get({ ...scope, targetPool: name })));
    if (!pool) {
      await this.insert(what, () =>
        this.pools.insert({
          ...scope,
          requestId: randomUUID(),
          targetPoolResource: {
            name,
            description: describe(service),
            instances: members,
            sessionAffinity: 'NONE',
          },
        }),
      );
      pool = await this.call(what, () => this.pools.get({ ...scope, targetPool: name }).then(([p]) => p));
    } else {
      const have = new Set((pool.instances ?? []).map(shortUrl));
      const want = new Set(members.map(shortUrl));
      const add = members.filter((m) => !have.has(shortUrl(m)));
      const remove = (pool.instances ?? []).filter((m) => !want.has(shortUrl(m)));
      if (add.length > 0)
        await this.insert(what, () =>
          this.pools.addInstance({
            ...scope,
            targetPool: name,
            requestId: randomUUID(),
            targetPoolsAddInstanceRequestResource: { instances: add.map((instance) => ({ instance })) },
          }),
        );
      if (remove.length > 0)
        await this.insert(what, () =>
          this.pools.removeInstance({
            ...scope,
            targetPool: name,
            requestId: randomUUID(),
            targetPoolsRemoveInstanceRequestResource: { instances: remove.map((instance) => ({ instance })) },
          }),
        );
    }

    const ports = [...new Set(service.ports.map((p) => String(p.nodePort)))].sort();
    let rule = await this.call(what, () => found(this.rules.get({ ...scope, forwardingRule: name })));
    // A forwarding rule's ports cannot change: a Service whose node ports changed gets a new one.
    if (rule && [...(rule.ports ?? [])].sort().join(',') !== ports.join(',')) {
      await this.remove(what, () => this.rules.delete({ ...scope, forwardingRule: name, requestId: randomUUID() }));
      rule = undefined;
    }
    if (!rule) {
      await this.insert(what, () =>
        this.rules.insert({
          ...scope,
          requestId: randomUUID(),
          forwardingRuleResource: {
            name,
            description: describe(service),
            IPProtocol: 'TCP',
            ports,
            loadBalancingScheme: 'EXTERNAL',
            target: pool?.selfLink ?? `projects/${this.project}/regions/${this.region}/targetPools/${name}`,
            labels: labelsOf(service),
          },
        }),
      );
      rule = await this.call(what, () => this.rules.get({ ...scope, forwardingRule: name }).then(([r]) => r));
    }
    if (!rule?.IPAddress) throw new CloudApiError(`gcp: ${what}: forwarding rule ${name} has no IP address`);
    return { ip: rule.IPAddress, ports: ports.map((p) => ({ port: Number(p), protocol: 'TCP' })) };
  }

  async delete(service: LoadBalancerKey): Promise<void> {
    const name = lbName(service);
    const scope = { project: this.project, region: this.region };
    const what = `deleting the load balancer of ${service.namespace}/${service.name}`;
    await this.remove(what, () => this.rules.delete({ ...scope, forwardingRule: name, requestId: randomUUID() }));
    await this.remove(what, () => this.pools.delete({ ...scope, targetPool: name, requestId: randomUUID() }));
  }

  /** Instance URLs of nodes, found by name among the cluster's instances (their zone is in the URL). */
  private async instanceUrls(cluster: string, nodes: LoadBalancerNode[]): Promise<string[]> {
    if (nodes.length === 0) return [];
    const names = new Set(nodes.map((n) => n.name));
    const urls: string[] = [];
    await this.call('finding the nodes’ instances', async () => {
      const pages = this.instances.aggregatedListAsync(
        { project: this.project, filter: `(labels.ferry-cluster = "${cluster}")` },
        { autoPaginate: false },
      );
      for await (const [, scoped] of pages)
        for (const i of scoped.instances ?? [])
          if (names.has(i.labels?.['ferry-node'] ?? i.name ?? '') && i.selfLink) urls.push(i.selfLink);
    });
    return urls.sort();
  }

  /** Runs an insert-like call and waits for its operation; "already exists" is done. */
  private async insert(what: string, fn: () => Promise<[Lro, ...unknown[]]>): Promise<void> {
    let op: GceOperation;
    try {
      op = (await fn())[0].latestResponse as GceOperation;
    } catch (err) {
      if (apiError(err).status === 409) return;
      throw translate(what, err);
    }
    await this.wait(what, op);
  }

  /** Runs a delete and waits for it; "not found" is done. */
  private async remove(what: string, fn: () => Promise<[Lro, ...unknown[]]>): Promise<void> {
    let op: GceOperation;
    try {
      op = (await fn())[0].latestResponse as GceOperation;
    } catch (err) {
      if (apiError(err).status === 404) return;
      throw translate(what, err);
    }
    await this.wait(what, op);
  }

  private async wait(what: string, operation: GceOperation): Promise<void> {
    let op = operation;
    for (let i = 0; op.status !== 'DONE'; i++) {
      if (!op.name || i >= 10) throw new CloudApiError(`gcp: ${what}: operation ${op.name} not done`);
      [op] = await this.call(what, () =>
        this.operations.wait({ project: this.project, region: this.region, operation: op.name as string }),
      );
    }
    const errors = op.error?.errors ?? [];
    if (errors.length > 0)
      throw new CloudApiError(`gcp: ${what}: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(what, err);
    }
  }
}

/** The resource a get answered, or undefined on 404. */
async function found<T>(get: Promise<[T, ...unknown[]]>): Promise<T | undefined> {
  try {
    return (await get)[0];
  } catch (err) {
    if (apiError(err).status === 404) return undefined;
    throw err;
  }
}

function translate(what: string, err: unknown): Error {
  if (err instanceof CloudApiError || err instanceof CloudConfigError) return err;
  const { status, reasons } = apiError(err);
  return new CloudApiError(`gcp: ${what}: ${status ?? ''} ${reasons.join(',')}: ${(err as Error).message}`.trim(), {
    cause: err,
  });
}

/** A Compute Engine name (RFC 1035, at most 63), unique per cluster and Service. */
export function lbName(service: LoadBalancerKey): string {
  const hash = createHash('sha256').update(`${service.cluster}/${service.namespace}/${service.name}`).digest('hex');
  return `ferry-${hash.slice(0, 20)}`;
}

function labelsOf(service: LoadBalancerService): Record<string, string> {
  const value = (v: string) =>
    v
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '_')
      .slice(0, 63);
  return {
    'ferry-cluster': value(service.cluster),
    'ferry-service': value(`${service.namespace}_${service.name}`),
    ...(service.uid ? { 'ferry-service-uid': value(service.uid) } : {}),
  };
}

function describe(service: LoadBalancerService): string {
  return JSON.stringify({ 'ferry-cluster': service.cluster, 'ferry-service': `${service.namespace}/${service.name}` });
}

/** `zones/Z/instances/N` of an instance URL, whatever host or version prefix it has. */
function shortUrl(url: string): string {
  return /zones\/[^/]+\/instances\/[^/]+$/.exec(url)?.[0] ?? url;
}
