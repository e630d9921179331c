import {
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsProvider } from '../../../providers/aws';
import {
  CloudApiError,
  type CloudConfig,
  CloudConfigError,
  type InstanceSpec,
  InsufficientCapacityError,
} from '../../../providers/types';

const ec2 = mockClient(EC2Client);

const cloud: CloudConfig = {
  name: 'aws-eu',
  type: 'aws',
  region: 'eu-west-1',
  options: {
    imageId: 'ami-0123456789abcdef0',
    subnetIds: { 'eu-west-1a': 'subnet-aaa', 'eu-west-1b': 'subnet-bbb' },
    securityGroupIds: ['sg-1'],
    agentImage: 'registry.example.com/ferry-agent:1',
  },
};

/** The Cloud object these machines are made for (name and uid, as the controller passes them). */
const CLOUD = { name: 'prod.eu', uid: '5f0c2c1e-8f3a-4d3b-9a51-2a7d1c9e0b11' };

const spec: InstanceSpec = {
  name: 'web-pool-k2x9q',
  cluster: 'prod',
  cloud: CLOUD,
  pool: 'web-pool',
  instanceType: 't3.medium',
  zone: 'eu-west-1b',
  tags: { team: 'web' },
  bootstrap: {
    apiUrl: 'https://ferry.example.com',
    token: 'ferry_boot_s3cret',
    clusterDomain: 'corp.internal',
    labels: { 'ferry.dev/pool': 'web-pool' },
  },
};

function awsError(name: string, message: string): EC2ServiceException {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: {} });
}

describe('aws provider (EC2, SDK mocked at the client)', () => {
  beforeEach(() => ec2.reset());

  it('runs one tagged instance in the zone and subnet, with the user-data, IMDSv2 and an idempotency token', async () => {
    ec2.on(RunInstancesCommand).resolves({
      Instances: [
        {
          InstanceId: 'i-0abc',
          State: { Name: 'pending', Code: 0 },
          Placement: { AvailabilityZone: 'eu-west-1b' },
          PrivateIpAddress: '10.0.1.7',
          Tags: [
            { Key: 'ferry:node', Value: spec.name },
            { Key: 'ferry:pool', Value: 'web-pool' },
          ],
        },
      ],
    });

    const instance = await new AwsProvider(cloud, { client: new EC2Client({}) }).createInstance(spec);

    const input = ec2.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 't3.medium',
      MinCount: 1,
      MaxCount: 1,
      Placement: { AvailabilityZone: 'eu-west-1b' },
      SubnetId: 'subnet-bbb',
      SecurityGroupIds: ['sg-1'],
      MetadataOptions: { HttpTokens: 'required' },
      ClientToken: 'ferry-prod-web-pool-k2x9q',
    });
    const tags = input?.TagSpecifications?.[0]?.Tags ?? [];
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'Name', Value: spec.name },
        { Key: 'ferry:cluster', Value: 'prod' },
        { Key: 'ferry:cloud', Value: CLOUD.name },
        { Key: 'ferry:cloud-uid', Value: CLOUD.uid },
        { Key: 'ferry:pool', Value: 'web-pool' },
        { Key: 'team', Value: 'web' },
      ]),
    );
    const script = Buffer.from(input?.UserData ?? '', 'base64').toString('utf8');
    expect(script).toContain(`FERRY_NODE_NAME=${spec.name}`);
    expect(script).toContain('FERRY_TOKEN=ferry_boot_s3cret');
    expect(script).toContain('\nFERRY_CLUSTER_DOMAIN=corp.internal\n');
    expect(script).toContain("'registry.example.com/ferry-agent:1'");
    expect(instance).toEqual({
      id: 'i-0abc',
      name: spec.name,
      pool: 'web-pool',
      zone: 'eu-west-1b',
      state: 'pending',
      privateIp: '10.0.1.7',
      tags: { 'ferry:node': spec.name, 'ferry:pool': 'web-pool' },
    });
  });

  it('turns a capacity error into InsufficientCapacityError, so the pool tries another zone', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('InsufficientInstanceCapacity', 'no t3.medium in eu-west-1b'));
    await expect(new AwsProvider(cloud, { client: new EC2Client({}) }).createInstance(spec)).rejects.toBeInstanceOf(
      InsufficientCapacityError,
    );
  });

  it('translates other EC2 errors at the file boundary, with a name and the SDK error as the cause', async () => {
    const sdk = awsError('UnauthorizedOperation', 'not allowed to RunInstances');
    ec2.on(RunInstancesCommand).rejects(sdk);
    const err = await new AwsProvider(cloud, { client: new EC2Client({}) }).createInstance(spec).catch((e) => e);

    expect(err).toBeInstanceOf(CloudApiError);
    expect(err.name).toBe('CloudApiError');
    expect(err.message).toBe(
      `aws: launching ${spec.name} in eu-west-1b: UnauthorizedOperation: not allowed to RunInstances`,
    );
    expect(err.cause).toBe(sdk);
  });

  it('lists the pool across pages by its tags, mapping EC2 states', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [
          { Instances: [{ InstanceId: 'i-1', State: { Name: 'running' }, Tags: [{ Key: 'ferry:node', Value: 'a' }] }] },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        Reservations: [
          { Instances: [{ InstanceId: 'i-2', State: { Name: 'shutting-down' }, Tags: [{ Key: 'Name', Value: 'b' }] }] },
        ],
      });

    const list = await new AwsProvider(cloud, { client: new EC2Client({}) }).listInstances({
      cluster: 'prod',
      cloud: CLOUD,
      pool: 'web-pool',
    });

    expect(list.map((i) => [i.id, i.name, i.state])).toEqual([
      ['i-1', 'a', 'running'],
      ['i-2', 'b', 'stopping'],
    ]);
    const calls = ec2.commandCalls(DescribeInstancesCommand);
    expect(calls[0]?.args[0].input.Filters).toEqual(
      expect.arrayContaining([
        { Name: 'tag:ferry:cluster', Values: ['prod'] },
        { Name: 'tag:ferry:cloud-uid', Values: [CLOUD.uid] },
        { Name: 'tag:ferry:pool', Values: ['web-pool'] },
      ]),
    );
    expect(calls[1]?.args[0].input.NextToken).toBe('page-2');
  });

  it('terminates an instance, and an instance already gone is not an error', async () => {
    ec2
      .on(TerminateInstancesCommand, { InstanceIds: ['i-gone'] })
      .rejects(awsError('InvalidInstanceID.NotFound', 'gone'));
    ec2.on(TerminateInstancesCommand, { InstanceIds: ['i-1'] }).resolves({});
    const aws = new AwsProvider(cloud, { client: new EC2Client({}) });

    await aws.deleteInstance('i-1');
    await aws.deleteInstance('i-gone');

    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(2);
  });

  it('names the missing setting: region, image', async () => {
    expect(() => new AwsProvider({ name: 'x', type: 'aws' })).toThrow(/spec.region/);
    const noImage = new AwsProvider({ ...cloud, options: {} }, { client: new EC2Client({}) });
    await expect(noImage.createInstance(spec)).rejects.toBeInstanceOf(CloudConfigError);
    await expect(noImage.createInstance(spec)).rejects.toThrow(/spec.options.imageId/);
  });
});
