/**
 * Load balancers of the `aws` provider: one Network Load Balancer per Service (Elastic Load
 * Balancing v2), as the AWS cloud-controller-manager makes for `service.beta.kubernetes.io/aws-load-balancer-type: nlb`:
 * - the NLB (internet-facing, in the Cloud's subnets), named from a hash of cluster, namespace and
 *   Service, so every call finds it by name: a retried ensure never makes a second one;
 * - one TCP target group per Service port, on its node port, with a TCP health check on the
 *   traffic port, and the Ready nodes' instances registered as its targets (others deregistered);
 * - one TCP listener per Service port, forwarding to that port's target group.
 * Everything is tagged `ferry:cluster`, `ferry:service` (NAMESPACE/NAME) and `ferry:service-uid`.
 * Delete removes listeners, the NLB, then its target groups. The SDK is loaded only when a Service
 * of type LoadBalancer meets an aws Cloud (aws.ts imports this file lazily).
 *
 * Cloud options: `vpcId` (required: target groups live in a VPC), `subnetIds` / `subnetId` (the
 * NLB's subnets), `loadBalancerScheme` (`internet-facing`, default, or `internal`).
 */
import { createHash } from 'node:crypto';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  type LoadBalancer,
  RegisterTargetsCommand,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
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
import { stringOption } from './userdata';

export class AwsLoadBalancers {
  constructor(
    private readonly config: CloudConfig,
    private readonly elb: ElasticLoadBalancingV2Client,
    private readonly ec2: EC2Client,
  ) {}

  async ensure(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    const options = this.config.options ?? {};
    const vpcId = stringOption(options, 'vpcId');
    if (!vpcId)
      throw new CloudConfigError(`cloud ${this.config.name}: spec.options.vpcId is required for load balancers on aws`);
    const unsupported = service.ports.find((p) => p.protocol !== 'TCP');
    if (unsupported)
      throw new NotSupportedError(
        `aws: port ${unsupported.port}/${unsupported.protocol}: only TCP load balancers so far`,
      );
    const base = lbName(service);
    const tags = tagsOf(service);
    const what = `load balancer of ${service.namespace}/${service.name}`;

    let lb = await this.call(what, () => this.findLoadBalancer(base));
    if (!lb) {
      const subnets = subnetsOf(options);
      if (subnets.length === 0)
        throw new CloudConfigError(
          `cloud ${this.config.name}: spec.options.subnetIds or subnetId names the load balancer's subnets`,
        );
      const created = await this.call(what, () =>
        this.elb.send(
          new CreateLoadBalancerCommand({
            Name: base,
            Type: 'network',
            Scheme: stringOption(options, 'loadBalancerScheme') === 'internal' ? 'internal' : 'internet-facing',
            Subnets: subnets,
            Tags: tags,
          }),
        ),
      );
      lb = created.LoadBalancers?.[0];
    }
    const lbArn = lb?.LoadBalancerArn;
    if (!lb || !lbArn) throw new CloudApiError(`aws: ${what}: CreateLoadBalancer returned no load balancer`);

    const instanceIds = await this.instanceIdsOf(
      service.cluster,
      nodes.filter((n) => n.ready),
    );
    const listeners =
      (await this.call(what, () => this.elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbArn }))))
        .Listeners ?? [];
    for (const port of service.ports) {
      const tg = await this.ensureTargetGroup(
        `${base.slice(0, 26)}-${port.port}`.slice(0, 32),
        port.nodePort,
        vpcId,
        tags,
      );
      const tgArn = tg.TargetGroupArn as string;
      await this.syncTargets(tgArn, port.nodePort, instanceIds);
      const listener = listeners.find((l) => l.Port === port.port);
      if (!listener) {
        await this.call(what, () =>
          this.elb.send(
            new CreateListenerCommand({
              LoadBalancerArn: lbArn,
              Protocol: 'TCP',
              Port: port.port,
              DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }],
              Tags: tags,
            }),
          ),
        );
      }
    }
    // Ports the Service no longer has: their listeners go (their target groups on delete).
    const wanted = new Set(service.ports.map((p) => p.port));
    for (const l of listeners) {
      if (l.Port !== undefined && !wanted.has(l.Port) && l.ListenerArn)
        await this.call(what, () => this.elb.send(new DeleteListenerCommand({ ListenerArn: l.ListenerArn })));
    }
    return {
      hostname: lb.DNSName as string,
      ports: service.ports.map((p) => ({ port: p.port, protocol: 'TCP' })),
    };
  }

  async delete(service: LoadBalancerKey): Promise<void> {
    const what = `deleting the load balancer of ${service.namespace}/${service.name}`;
    const lb = await this.call(what, () => this.findLoadBalancer(lbName(service)));
    if (!lb?.LoadBalancerArn) return;
    const lbArn = lb.LoadBalancerArn;
    const groups =
      (await this.call(what, () => this.elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lbArn }))))
        .TargetGroups ?? [];
    const listeners =
      (await this.call(what, () => this.elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbArn }))))
        .Listeners ?? [];
    for (const l of listeners)
      await this.call(what, () => this.elb.send(new DeleteListenerCommand({ ListenerArn: l.ListenerArn })));
    await this.call(what, () => this.elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lbArn })));
    for (const g of groups)
      await this.call(what, () => this.elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: g.TargetGroupArn })));
  }

  private async findLoadBalancer(name: string): Promise<LoadBalancer | undefined> {
    try {
      const out = await this.elb.send(new DescribeLoadBalancersCommand({ Names: [name] }));
      return out.LoadBalancers?.[0];
    } catch (err) {
      if (codeOf(err) === 'LoadBalancerNotFoundException') return undefined;
      throw err;
    }
  }

  private async ensureTargetGroup(
    name: string,
    nodePort: number,
    vpcId: string,
    tags: { Key: string; Value: string }[],
  ): Promise<TargetGroup> {
    const what = `target group ${name}`;
    const found = await this.call(what, async () => {
      try {
        return (await this.elb.send(new DescribeTargetGroupsCommand({ Names: [name] }))).TargetGroups?.[0];
      } catch (err) {
        if (codeOf(err) === 'TargetGroupNotFoundException') return undefined;
        throw err;
      }
    });
    if (found) return found;
    const out = await this.call(what, () =>
      this.elb.send(
        new CreateTargetGroupCommand({
          Name: name,
          Protocol: 'TCP',
          Port: nodePort,
          VpcId: vpcId,
          TargetType: 'instance',
          HealthCheckProtocol: 'TCP',
          HealthCheckPort: 'traffic-port',
          HealthCheckIntervalSeconds: 10,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 2,
          Tags: tags,
        }),
      ),
    );
    const group = out.TargetGroups?.[0];
    if (!group?.TargetGroupArn) throw new CloudApiError(`aws: ${what}: CreateTargetGroup returned no target group`);
    return group;
  }

  /** Registers the wanted instances on the node port, deregisters the others. */
  private async syncTargets(tgArn: string, port: number, wanted: string[]): Promise<void> {
    const what = `targets of ${tgArn}`;
    const health = await this.call(what, () =>
      this.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn })),
    );
    const have = new Set((health.TargetHealthDescriptions ?? []).map((d) => d.Target?.Id as string));
    const add = wanted.filter((id) => !have.has(id));
    const remove = [...have].filter((id) => !wanted.includes(id));
    if (add.length > 0)
      await this.call(what, () =>
        this.elb.send(
          new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: add.map((Id) => ({ Id, Port: port })) }),
        ),
      );
    if (remove.length > 0)
      await this.call(what, () =>
        this.elb.send(
          new DeregisterTargetsCommand({ TargetGroupArn: tgArn, Targets: remove.map((Id) => ({ Id, Port: port })) }),
        ),
      );
  }

  /** The EC2 instance ids of nodes, found by their `ferry:node` tag (or given by the controller). */
  private async instanceIdsOf(cluster: string, nodes: LoadBalancerNode[]): Promise<string[]> {
    const known = nodes.flatMap((n) => (n.instanceId ? [n.instanceId] : []));
    const names = nodes.filter((n) => !n.instanceId).map((n) => n.name);
    if (names.length === 0) return known.sort();
    const out = await this.call('finding the nodes’ instances', () =>
      this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:ferry:cluster', Values: [cluster] },
            { Name: 'tag:ferry:node', Values: names },
            { Name: 'instance-state-name', Values: ['pending', 'running'] },
          ],
        }),
      ),
    );
    const ids = (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId as string));
    return [...known, ...ids].sort();
  }

  /** Runs one SDK call; its error leaves this file as a CloudApiError with the SDK's as the cause. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CloudApiError || err instanceof CloudConfigError) throw err;
      throw new CloudApiError(`aws: ${what}: ${codeOf(err)}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** ELB names: at most 32 letters, digits and hyphens, unique per region and account. */
export function lbName(service: LoadBalancerKey): string {
  const hash = createHash('sha256').update(`${service.cluster}/${service.namespace}/${service.name}`).digest('hex');
  return `ferry-${hash.slice(0, 20)}`;
}

function tagsOf(service: LoadBalancerService): { Key: string; Value: string }[] {
  return [
    { Key: 'ferry:cluster', Value: service.cluster },
    { Key: 'ferry:service', Value: `${service.namespace}/${service.name}` },
    ...(service.uid ? [{ Key: 'ferry:service-uid', Value: service.uid }] : []),
  ];
}

function subnetsOf(options: Record<string, unknown>): string[] {
  const byZone = (options.subnetIds ?? {}) as Record<string, string>;
  const one = stringOption(options, 'subnetId');
  return [...new Set([...Object.values(byZone).map(String), ...(one ? [one] : [])])];
}

function codeOf(err: unknown): string {
  return (err as { name?: string }).name ?? 'Error';
}
