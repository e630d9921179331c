/**
 * The `aws` provider: a node is one EC2 instance booted with ferry's user-data (userdata.ts).
 *
 * Tags: `Name` = the node name, `ferry:cluster`, `ferry:cloud` and `ferry:cloud-uid` (the Cloud it
 * was made for), `ferry:pool`, `ferry:node`, plus the pool's tags, on the instance and its volumes;
 * listing filters on cluster, Cloud uid and pool, so two Clouds in one account never list each
 * other's machines. The instance id is EC2's (`i-...`).
 * RunInstances carries the node name as its ClientToken, so a retried create after a lost reply
 * returns the same instance instead of starting a second one. IMDSv2 is required on every instance.
 *
 * Cloud options: `imageId` (an AMI, unless the NodePool names one), `subnetId` or `subnetIds`
 * (zone -> subnet), `securityGroupIds`, `instanceProfile` (an IAM instance profile name),
 * `agentImage`, `agentEnv` (more agent settings, e.g. FERRY_SANDBOX_IMAGE). Credentials: the
 * Cloud's Secret (`accessKeyId`, `secretAccessKey`, optional `sessionToken`), else the SDK's
 * default chain (the Lambda role, an instance profile, env).
 *
 * Load balancers: a Network Load Balancer per Service (aws-lb.ts, its SDK loaded on first use).
 */

import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  DescribeInstanceTypesCommand,
  EC2Client,
  type Instance as Ec2Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsLoadBalancers } from './aws-lb';
import { MachineCatalogue } from './machine-capacity';
import {
  CloudApiError,
  type CloudConfig,
  CloudConfigError,
  type CloudProvider,
  type Instance,
  type InstanceFilter,
  type InstanceSpec,
  type InstanceState,
  InsufficientCapacityError,
  type LoadBalancerIngress,
  type LoadBalancerNode,
  type LoadBalancerService,
  type MachineCapacity,
} from './types';
import { stringOption, userData, userDataOptions } from './userdata';

/** EC2 error codes meaning "not here, not now": try another zone or instance type. */
const CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'Unsupported',
]);

const STATES: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopping',
  'shutting-down': 'stopping',
  terminated: 'terminated',
};

export class AwsProvider implements CloudProvider {
  readonly type = 'aws';
  private readonly ec2: EC2Client;
  private lbs: Promise<AwsLoadBalancers> | undefined;
  /** DescribeInstanceTypes, once per type: VCpuInfo.DefaultVCpus and MemoryInfo.SizeInMiB. */
  private readonly catalogue = new MachineCatalogue(async (instanceType) => {
    const res = await this.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as never] }));
    const info = res.InstanceTypes?.find((t) => t.InstanceType === instanceType);
    return info && { cpu: info.VCpuInfo?.DefaultVCpus, memoryMiB: info.MemoryInfo?.SizeInMiB };
  });

  constructor(
    private readonly config: CloudConfig,
    private readonly overrides: { client?: EC2Client; elb?: ElasticLoadBalancingV2Client } = {},
  ) {
    if (!config.region) throw new CloudConfigError(`cloud ${config.name}: spec.region is required for aws`);
    this.ec2 = overrides.client ?? new EC2Client(this.clientConfig());
  }

  private clientConfig(): {
    region: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  } {
    const creds = this.config.credentials;
    return {
      region: this.config.region as string,
      ...(creds?.accessKeyId && creds.secretAccessKey
        ? {
            credentials: {
              accessKeyId: creds.accessKeyId,
              secretAccessKey: creds.secretAccessKey,
              ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
            },
          }
        : {}),
    };
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    const options = this.config.options ?? {};
    const imageId = spec.image ?? stringOption(options, 'imageId');
    if (!imageId)
      throw new CloudConfigError(
        `cloud ${this.config.name}: spec.options.imageId is required (or the NodePool's image)`,
      );
    const subnets = (options.subnetIds ?? {}) as Record<string, string>;
    const subnetId = subnets[spec.zone] ?? stringOption(options, 'subnetId');
    const securityGroupIds = Array.isArray(options.securityGroupIds) ? options.securityGroupIds.map(String) : undefined;
    const profile = stringOption(options, 'instanceProfile');
    const tags = [
      { Key: 'Name', Value: spec.name },
      { Key: 'ferry:cluster', Value: spec.cluster },
      { Key: 'ferry:cloud', Value: spec.cloud.name },
      { Key: 'ferry:cloud-uid', Value: spec.cloud.uid },
      { Key: 'ferry:pool', Value: spec.pool },
      { Key: 'ferry:node', Value: spec.name },
      ...Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
    ];
    let out: Ec2Instance | undefined;
    try {
      const res = await this.ec2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: spec.instanceType as never,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: `ferry-${spec.cluster}-${spec.name}`.slice(0, 64),
          UserData: Buffer.from(userData(spec, userDataOptions(options))).toString('base64'),
          Placement: { AvailabilityZone: spec.zone },
          ...(subnetId ? { SubnetId: subnetId } : {}),
          ...(securityGroupIds ? { SecurityGroupIds: securityGroupIds } : {}),
          ...(profile ? { IamInstanceProfile: { Name: profile } } : {}),
          MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      );
      out = res.Instances?.[0];
    } catch (err) {
      const code = (err as { name?: string }).name ?? '';
      if (CAPACITY_ERRORS.has(code))
        throw new InsufficientCapacityError(
          `aws: no ${spec.instanceType} capacity in ${spec.zone} (${code}): ${(err as Error).message}`,
          { cause: err },
        );
      throw new CloudApiError(`aws: launching ${spec.name} in ${spec.zone}: ${code}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!out?.InstanceId) throw new Error(`aws: RunInstances for ${spec.name} returned no instance`);
    return toInstance(out);
  }

  machineCapacity(instanceType: string, zone: string): Promise<MachineCapacity | undefined> {
    return this.catalogue.get(instanceType, zone);
  }

  async deleteInstance(id: string): Promise<void> {
    try {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    } catch (err) {
      const code = (err as { name?: string }).name ?? '';
      if (code === 'InvalidInstanceID.NotFound') return;
      throw new CloudApiError(`aws: terminating ${id}: ${code}: ${(err as Error).message}`, { cause: err });
    }
  }

  async listInstances(filter: InstanceFilter): Promise<Instance[]> {
    const filters = [
      { Name: 'tag:ferry:cluster', Values: [filter.cluster] },
      { Name: 'tag:ferry:cloud-uid', Values: [filter.cloud.uid] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ...(filter.pool ? [{ Name: 'tag:ferry:pool', Values: [filter.pool] }] : []),
    ];
    const out: Instance[] = [];
    let next: string | undefined;
    do {
      const page: DescribeInstancesCommandOutput = await this.ec2.send(
        new DescribeInstancesCommand({ Filters: filters, ...(next ? { NextToken: next } : {}) }),
      );
      for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) out.push(toInstance(i));
      next = page.NextToken;
    } while (next);
    return out;
  }

  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    return this.loadBalancers().then((lbs) => lbs.ensure(service, nodes));
  }

  deleteLoadBalancer(service: { cluster: string; namespace: string; name: string }): Promise<void> {
    return this.loadBalancers().then((lbs) => lbs.delete(service));
  }

  /** The ELBv2 SDK is loaded on the first load balancer, not with the provider. */
  private loadBalancers(): Promise<AwsLoadBalancers> {
    this.lbs ??= (async () => {
      const [{ AwsLoadBalancers }, { ElasticLoadBalancingV2Client }] = await Promise.all([
        import('./aws-lb'),
        import('@aws-sdk/client-elastic-load-balancing-v2'),
      ]);
      const client = this.overrides.elb ?? new ElasticLoadBalancingV2Client(this.clientConfig());
      return new AwsLoadBalancers(this.config, client, this.ec2);
    })();
    return this.lbs;
  }
}

function toInstance(i: Ec2Instance): Instance {
  const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  return {
    id: i.InstanceId as string,
    name: tags['ferry:node'] ?? tags.Name ?? (i.InstanceId as string),
    pool: tags['ferry:pool'] ?? '',
    zone: i.Placement?.AvailabilityZone ?? '',
    state: STATES[i.State?.Name ?? ''] ?? 'pending',
    ...(i.PrivateIpAddress ? { privateIp: i.PrivateIpAddress } : {}),
    ...(tags['ferry:cloud-uid'] ? { cloudUid: tags['ferry:cloud-uid'] } : {}),
    tags,
  };
}
