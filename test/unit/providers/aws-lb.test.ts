/**
 * The aws provider's load balancers against the ELBv2 SDK, faked at the client by a small stateful
 * fake that answers with the documented shapes (ARNs, DNSName, the *NotFoundException errors) and
 * records every input, so each test reads what the adapter would send to AWS.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
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
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  type Listener,
  type LoadBalancer,
  RegisterTargetsCommand,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsProvider } from '../../../providers/aws';
import { CloudApiError, type CloudConfig, CloudConfigError, type LoadBalancerService } from '../../../providers/types';

const elbMock = mockClient(ElasticLoadBalancingV2Client);
const ec2Mock = mockClient(EC2Client);
const ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012';

function notFound(name: string): ElasticLoadBalancingV2ServiceException {
  return new ElasticLoadBalancingV2ServiceException({
    name,
    message: 'One or more not found',
    $fault: 'client',
    $metadata: {},
  });
}

/** ELBv2 in one region: load balancers, target groups (with targets) and listeners by ARN. */
class FakeElb {
  lbs = new Map<string, LoadBalancer>();
  groups = new Map<string, TargetGroup & { targets: Set<string>; lb?: string }>();
  listeners = new Map<string, Listener>();
  private seq = 0;

  install(): void {
    elbMock.on(DescribeLoadBalancersCommand).callsFake(async (input) => {
      const found = [...this.lbs.values()].filter((l) => input.Names?.includes(l.LoadBalancerName as string));
      if (found.length === 0) throw notFound('LoadBalancerNotFoundException');
      return { LoadBalancers: found };
    });
    elbMock.on(CreateLoadBalancerCommand).callsFake(async (input) => {
      const arn = `${ARN}:loadbalancer/net/${input.Name}/${++this.seq}`;
      const lb: LoadBalancer = {
        LoadBalancerArn: arn,
        LoadBalancerName: input.Name,
        DNSName: `${input.Name}-abc123.elb.eu-west-1.amazonaws.com`,
        Type: 'network',
        Scheme: input.Scheme,
        State: { Code: 'provisioning' },
      };
      this.lbs.set(arn, lb);
      return { LoadBalancers: [lb] };
    });
    elbMock.on(DeleteLoadBalancerCommand).callsFake(async (input) => {
      this.lbs.delete(input.LoadBalancerArn as string);
      for (const g of this.groups.values()) if (g.lb === input.LoadBalancerArn) delete g.lb;
      return {};
    });
    elbMock.on(DescribeTargetGroupsCommand).callsFake(async (input) => {
      const found = [...this.groups.values()].filter(
        (g) =>
          input.Names?.includes(g.TargetGroupName as string) ||
          (input.LoadBalancerArn && g.lb === input.LoadBalancerArn),
      );
      if (input.Names && found.length === 0) throw notFound('TargetGroupNotFoundException');
      return { TargetGroups: found.map(({ targets: _t, lb: _l, ...g }) => g) };
    });
    elbMock.on(CreateTargetGroupCommand).callsFake(async (input) => {
      const arn = `${ARN}:targetgroup/${input.Name}/${++this.seq}`;
      const g = {
        TargetGroupArn: arn,
        TargetGroupName: input.Name,
        Port: input.Port,
        Protocol: input.Protocol,
        targets: new Set<string>(),
      };
      this.groups.set(arn, g);
      return { TargetGroups: [{ TargetGroupArn: arn, TargetGroupName: input.Name, Port: input.Port }] };
    });
    elbMock.on(DeleteTargetGroupCommand).callsFake(async (input) => {
      this.groups.delete(input.TargetGroupArn as string);
      return {};
    });
    elbMock.on(DescribeTargetHealthCommand).callsFake(async (input) => ({
      TargetHealthDescriptions: [...(this.groups.get(input.TargetGroupArn as string)?.targets ?? [])].map((Id) => ({
        Target: { Id, Port: 30080 },
        TargetHealth: { State: 'healthy' },
      })),
    }));
    elbMock.on(RegisterTargetsCommand).callsFake(async (input) => {
      for (const t of input.Targets ?? []) this.groups.get(input.TargetGroupArn as string)?.targets.add(t.Id as string);
      return {};
    });
    elbMock.on(DeregisterTargetsCommand).callsFake(async (input) => {
      for (const t of input.Targets ?? [])
        this.groups.get(input.TargetGroupArn as string)?.targets.delete(t.Id as string);
      return {};
    });
    elbMock.on(DescribeListenersCommand).callsFake(async (input) => ({
      Listeners: [...this.listeners.values()].filter((l) => l.LoadBalancerArn === input.LoadBalancerArn),
    }));
    elbMock.on(CreateListenerCommand).callsFake(async (input) => {
      const arn = `${ARN}:listener/net/x/${++this.seq}`;
      const l: Listener = {
        ListenerArn: arn,
        LoadBalancerArn: input.LoadBalancerArn,
        Port: input.Port,
        Protocol: input.Protocol,
      };
      this.listeners.set(arn, l);
      const tg = this.groups.get(input.DefaultActions?.[0]?.TargetGroupArn as string);
      if (tg) tg.lb = input.LoadBalancerArn;
      return { Listeners: [l] };
    });
    elbMock.on(DeleteListenerCommand).callsFake(async (input) => {
      this.listeners.delete(input.ListenerArn as string);
      return {};
    });
  }
}

const cloud: CloudConfig = {
  name: 'aws-eu',
  uid: 'cloud-uid-1',
  type: 'aws',
  region: 'eu-west-1',
  options: { vpcId: 'vpc-1', subnetIds: { 'eu-west-1a': 'subnet-a', 'eu-west-1b': 'subnet-b' } },
};
const service: LoadBalancerService = {
  cluster: 'prod',
  namespace: 'default',
  name: 'web',
  uid: 'svc-uid-1',
  ports: [
    { name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' },
    { name: 'https', port: 443, nodePort: 30443, protocol: 'TCP' },
  ],
};
const nodes = [
  { name: 'web-aaa', address: '10.0.1.5', ready: true },
  { name: 'web-bbb', address: '10.0.1.6', ready: true },
  { name: 'web-ccc', address: '10.0.1.7', ready: false },
];

describe('aws load balancers (ELBv2 SDK mocked at the client)', () => {
  let fake: FakeElb;
  const provider = () =>
    new AwsProvider(cloud, { client: new EC2Client({}), elb: new ElasticLoadBalancingV2Client({}) });

  beforeEach(() => {
    elbMock.reset();
    ec2Mock.reset();
    fake = new FakeElb();
    fake.install();
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input) => {
      const names = input.Filters?.find((f: { Name?: string }) => f.Name === 'tag:ferry:node')?.Values ?? [];
      return {
        Reservations: [
          { Instances: names.map((n: string) => ({ InstanceId: `i-${n}`, Tags: [{ Key: 'ferry:node', Value: n }] })) },
        ],
      };
    });
  });

  it('makes a tagged NLB with a TCP target group per port on its node port, health-checked, the Ready instances registered, and a listener per port', async () => {
    const ingress = await provider().ensureLoadBalancer(service, nodes);

    expect(ingress).toEqual({
      hostname: expect.stringMatching(/^ferry-[0-9a-f]{20}-abc123\.elb\.eu-west-1\.amazonaws\.com$/),
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 443, protocol: 'TCP' },
      ],
    });
    const lb = elbMock.commandCalls(CreateLoadBalancerCommand)[0]?.args[0].input;
    expect(lb).toMatchObject({ Type: 'network', Scheme: 'internet-facing', Subnets: ['subnet-a', 'subnet-b'] });
    expect(lb?.Name).toMatch(/^ferry-[0-9a-f]{20}$/);
    expect(lb?.Tags).toEqual([
      { Key: 'ferry:cluster', Value: 'prod' },
      { Key: 'ferry:service', Value: 'default/web' },
      { Key: 'ferry:service-uid', Value: 'svc-uid-1' },
    ]);
    const groups = elbMock.commandCalls(CreateTargetGroupCommand).map((c) => c.args[0].input);
    expect(groups.map((g) => [g.Port, g.Protocol, g.TargetType, g.HealthCheckProtocol, g.VpcId])).toEqual([
      [30080, 'TCP', 'instance', 'TCP', 'vpc-1'],
      [30443, 'TCP', 'instance', 'TCP', 'vpc-1'],
    ]);
    for (const g of groups) expect((g.Name as string).length).toBeLessThanOrEqual(32);
    const registered = elbMock.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input.Targets);
    expect(registered).toEqual([
      [
        { Id: 'i-web-aaa', Port: 30080 },
        { Id: 'i-web-bbb', Port: 30080 },
      ],
      [
        { Id: 'i-web-aaa', Port: 30443 },
        { Id: 'i-web-bbb', Port: 30443 },
      ],
    ]); // not the NotReady web-ccc
    const listeners = elbMock.commandCalls(CreateListenerCommand).map((c) => c.args[0].input);
    expect(listeners.map((l) => [l.Port, l.Protocol, l.DefaultActions?.[0]?.Type])).toEqual([
      [80, 'TCP', 'forward'],
      [443, 'TCP', 'forward'],
    ]);
  });

  it('is idempotent: a second ensure finds everything by name and creates nothing', async () => {
    await provider().ensureLoadBalancer(service, nodes);
    elbMock.resetHistory();
    const again = await provider().ensureLoadBalancer(service, nodes);

    expect(again.hostname).toContain('.elb.eu-west-1.amazonaws.com');
    expect(elbMock.commandCalls(CreateLoadBalancerCommand)).toHaveLength(0);
    expect(elbMock.commandCalls(CreateTargetGroupCommand)).toHaveLength(0);
    expect(elbMock.commandCalls(CreateListenerCommand)).toHaveLength(0);
    expect(elbMock.commandCalls(RegisterTargetsCommand)).toHaveLength(0);
    expect(fake.lbs.size).toBe(1);
  });

  it('follows the nodes: a node that is no longer Ready is deregistered, a new one registered', async () => {
    await provider().ensureLoadBalancer(service, nodes);
    await provider().ensureLoadBalancer(service, [
      { name: 'web-bbb', address: '10.0.1.6', ready: true },
      { name: 'web-ddd', address: '10.0.1.8', ready: true },
    ]);

    for (const g of fake.groups.values()) expect([...g.targets].sort()).toEqual(['i-web-bbb', 'i-web-ddd']);
  });

  it('deletes listeners, the NLB and its target groups; deleting again is not an error', async () => {
    await provider().ensureLoadBalancer(service, nodes);
    await provider().deleteLoadBalancer(service);

    expect(fake.lbs.size).toBe(0);
    expect(fake.listeners.size).toBe(0);
    expect(fake.groups.size).toBe(0);
    await expect(provider().deleteLoadBalancer(service)).resolves.toBeUndefined();
    expect(elbMock.commandCalls(DeleteLoadBalancerCommand)).toHaveLength(1);
  });

  it('names what is missing, and translates SDK errors with the cause', async () => {
    const noVpc = new AwsProvider(
      { ...cloud, options: {} },
      { client: new EC2Client({}), elb: new ElasticLoadBalancingV2Client({}) },
    );
    await expect(noVpc.ensureLoadBalancer(service, nodes)).rejects.toThrow(CloudConfigError);
    await expect(noVpc.ensureLoadBalancer(service, nodes)).rejects.toThrow(/spec.options.vpcId/);

    const denied = new ElasticLoadBalancingV2ServiceException({
      name: 'AccessDenied',
      message: 'no',
      $fault: 'client',
      $metadata: {},
    });
    elbMock.on(DescribeLoadBalancersCommand).rejects(denied);
    const err = await provider()
      .ensureLoadBalancer(service, nodes)
      .catch((e) => e);
    expect(err).toBeInstanceOf(CloudApiError);
    expect(err.message).toMatch(/^aws: load balancer of default\/web: AccessDenied: no$/);
    expect(err.cause).toBe(denied);
  });
});
