/**
 * The node pool controller against the real AwsProvider, with EC2 faked at the SDK client by a
 * small stateful fake (instances per region), and nodes "registering" the way an agent would.
 */
import {
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  type Instance as Ec2Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RETIRING_ANNOTATION, reconcileNodePools } from '../../../functions/controllers/nodepool';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { AwsProvider } from '../../../providers/aws';
import type { CloudConfig } from '../../../providers/types';
import type { Node, NodePool, Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

const ec2 = mockClient(EC2Client);

/** EC2 per region: RunInstances adds, TerminateInstances marks terminated, Describe filters by tags. */
class FakeEc2 {
  readonly regions = new Map<string, Map<string, Ec2Instance>>();
  /** Zones that answer InsufficientInstanceCapacity. */
  readonly full = new Set<string>();
  /** While true, DescribeInstances shows nothing (eventual consistency). */
  hidden = false;
  private seq = 0;

  install(): void {
    ec2.on(RunInstancesCommand).callsFake(async (input, getClient) => {
      const region = await getClient().config.region();
      const zone = input.Placement?.AvailabilityZone as string;
      if (this.full.has(zone))
        throw new EC2ServiceException({
          name: 'InsufficientInstanceCapacity',
          message: `no capacity in ${zone}`,
          $fault: 'server',
          $metadata: {},
        });
      const instance: Ec2Instance = {
        InstanceId: `i-${region}-${++this.seq}`,
        State: { Name: 'pending' },
        Placement: { AvailabilityZone: zone },
        Tags: input.TagSpecifications?.[0]?.Tags ?? [],
        // The user-data, kept so the test can read what the machine would boot with.
        ...({ UserData: input.UserData } as object),
      };
      this.in(region).set(instance.InstanceId as string, instance);
      return { Instances: [instance] };
    });
    ec2.on(DescribeInstancesCommand).callsFake(async (input, getClient) => {
      const region = await getClient().config.region();
      const want = (key: string) => input.Filters?.find((f: { Name?: string }) => f.Name === `tag:${key}`)?.Values?.[0];
      const instances = [...this.in(region).values()].filter((i) => {
        if (this.hidden) return false;
        const tag = (k: string) => i.Tags?.find((t) => t.Key === k)?.Value;
        return (
          i.State?.Name !== 'terminated' &&
          tag('ferry:cluster') === want('ferry:cluster') &&
          (!want('ferry:pool') || tag('ferry:pool') === want('ferry:pool'))
        );
      });
      return { Reservations: [{ Instances: instances }] };
    });
    ec2.on(TerminateInstancesCommand).callsFake(async (input, getClient) => {
      const region = await getClient().config.region();
      for (const id of input.InstanceIds ?? []) {
        const i = this.in(region).get(id);
        if (i) i.State = { Name: 'terminated' };
      }
      return {};
    });
  }

  in(region: string): Map<string, Ec2Instance> {
    let m = this.regions.get(region);
    if (!m) {
      m = new Map();
      this.regions.set(region, m);
    }
    return m;
  }

  live(region: string): Ec2Instance[] {
    return [...this.in(region).values()].filter((i) => i.State?.Name !== 'terminated');
  }
}

const nameOf = (i: Ec2Instance) => i.Tags?.find((t) => t.Key === 'ferry:node')?.Value as string;
const userDataOf = (i: Ec2Instance) =>
  Buffer.from((i as { UserData?: string }).UserData ?? '', 'base64').toString('utf8');

describe('node pool controller', () => {
  let store: MemoryStore;
  let deps: Deps;
  let now: number;
  let fake: FakeEc2;
  const options = {
    cluster: 'prod',
    apiUrl: 'https://ferry.example.com',
    providerFor: async (config: CloudConfig) => new AwsProvider(config),
  };
  const pass = () => reconcileNodePools(deps, options);
  const pool = async () => (await store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;

  /** What the agent does on first boot: register a Ready Node with the labels from its user-data. */
  async function register(i: Ec2Instance): Promise<void> {
    const labels = Object.fromEntries(
      (/FERRY_NODE_LABELS=(.*)/.exec(userDataOf(i))?.[1] ?? '')
        .split(',')
        .map((kv) => kv.split('=') as [string, string]),
    );
    const node = makeNode(nameOf(i), { labels });
    await store.create(node);
  }

  beforeEach(async () => {
    ec2.reset();
    fake = new FakeEc2();
    fake.install();
    now = Date.parse('2026-11-25T00:00:00Z');
    store = new MemoryStore(() => now);
    deps = { store, clock: () => now, log: silentLogger };
    for (const [name, region] of [
      ['aws-eu', 'eu-west-1'],
      ['aws-us', 'us-east-1'],
    ] as const) {
      await store.create({
        apiVersion: 'ferry.dev/v1',
        kind: 'Cloud',
        metadata: { name },
        spec: { type: 'aws', region, options: { imageId: 'ami-1' } },
      });
    }
    await store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'web' },
      spec: {
        cloud: 'aws-eu',
        instanceType: 't3.medium',
        zones: ['eu-west-1a', 'eu-west-1b'],
        desiredNodes: 3,
        minNodes: 0,
        maxUnavailable: 1,
        labels: { tier: 'web' },
        taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
      },
    });
  });

  it('creates the desired machines across zones, each booting with its own expiring bootstrap token', async () => {
    await pass();

    const machines = fake.live('eu-west-1');
    expect(machines).toHaveLength(3);
    const zones = machines.map((m) => m.Placement?.AvailabilityZone).sort();
    expect(zones).toEqual(['eu-west-1a', 'eu-west-1a', 'eu-west-1b']);
    const tokens = (
      await store.list<Obj & { spec: { role: string }; status: { expirationTimestamp?: string } }>('Token')
    ).items;
    expect(tokens).toHaveLength(3);
    for (const t of tokens) {
      expect(t.spec.role).toBe('bootstrap');
      expect(t.status.expirationTimestamp).toBe('2026-11-25T01:00:00Z');
    }
    for (const m of machines) {
      const script = userDataOf(m);
      expect(script).toContain(`FERRY_NODE_NAME=${nameOf(m)}`);
      expect(script).toMatch(/FERRY_TOKEN=ferry_boot-web-[0-9a-f]{6}_/);
      expect(script).toContain('ferry.dev/pool=web');
      expect(script).toContain('tier=web');
    }
    expect((await pool()).status).toMatchObject({ nodes: 3, readyNodes: 0 });

    await pass(); // nothing new while the machines boot
    expect(fake.live('eu-west-1')).toHaveLength(3);
  });

  it("boots each machine's agent with the server's cluster domain, as ferry up's agents get it", async () => {
    await reconcileNodePools(deps, { ...options, clusterDomain: 'corp.internal' });
    const machines = fake.live('eu-west-1');
    expect(machines).toHaveLength(3);
    for (const m of machines) expect(userDataOf(m)).toContain('\nFERRY_CLUSTER_DOMAIN=corp.internal\n');
  });

  it('does not launch duplicates while the cloud has not listed its new machines yet', async () => {
    fake.hidden = true; // DescribeInstances lags behind RunInstances, as EC2's does
    await pass();
    await pass();
    expect(fake.live('eu-west-1')).toHaveLength(3);
    expect((await pool()).status).toMatchObject({ nodes: 3 });

    fake.hidden = false;
    await pass();
    expect(fake.live('eu-west-1')).toHaveLength(3);
    expect((await pool()).status?.launches?.map((l) => l.cloud)).toEqual(['aws-eu', 'aws-eu', 'aws-eu']);

    now += 301_000; // and a machine that never shows up is replaced after the grace
    fake.in('eu-west-1').clear();
    await pass();
    expect(fake.live('eu-west-1')).toHaveLength(3);
  });

  it('reports Ready once the nodes register, and gives them the pool taints', async () => {
    await pass();
    for (const m of fake.live('eu-west-1')) await register(m);
    await pass();

    const status = (await pool()).status;
    expect(status).toMatchObject({ nodes: 3, readyNodes: 3 });
    expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    for (const n of (await store.list<Node>('Node')).items)
      expect(n.spec?.taints).toEqual([{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }]);
  });

  it('scales down by draining first: cordon and graceful pod deletion, then the machine, Node and credential go', async () => {
    await pass();
    for (const m of fake.live('eu-west-1')) await register(m);
    await pass();
    const names = fake.live('eu-west-1').map(nameOf);
    for (const [i, nodeName] of names.entries()) {
      const pod = makePod(`app-${i}`, { owner: { kind: 'ReplicaSet', name: 'app', uid: 'rs-1' } });
      await store.create({ ...pod, spec: { ...pod.spec, nodeName } });
      await store.create({
        apiVersion: 'ferry.dev/v1',
        kind: 'Token',
        metadata: { name: `node-${nodeName}` },
        spec: { role: 'node', nodeName },
        status: {},
        secretHash: 'x',
      });
    }

    const p = await pool();
    await store.update({ ...p, spec: { ...p.spec, desiredNodes: 2 } });
    await pass();

    const cordoned = (await store.list<Node>('Node')).items.filter((n) => n.spec?.unschedulable);
    expect(cordoned).toHaveLength(1);
    const victim = cordoned[0] as Node;
    const victimName = victim.metadata.name;
    expect(victim.metadata.annotations?.[RETIRING_ANNOTATION]).toBeDefined();
    const pods = (await store.list<Pod>('Pod')).items;
    const draining = pods.filter((p) => p.metadata.deletionTimestamp);
    expect(draining.map((p) => p.spec.nodeName)).toEqual([victimName]); // only the victim's pod
    expect(fake.live('eu-west-1')).toHaveLength(3); // the machine waits for its pods

    const victimPod = draining[0] as Pod;
    await store.delete({ kind: 'Pod', namespace: 'default', name: victimPod.metadata.name }); // the agent stopped it
    await pass();

    expect(fake.live('eu-west-1').map(nameOf)).not.toContain(victimName);
    expect(await store.get({ kind: 'Node', name: victimName })).toBeUndefined();
    expect(await store.get({ kind: 'Token', name: `node-${victimName}` })).toBeUndefined();
    expect((await pool()).status).toMatchObject({ nodes: 2, readyNodes: 2 });
  });

  it('retires through evictions: waits for a PodDisruptionBudget however long, and leaves DaemonSet pods to go with the node', async () => {
    // prepare: one guarded ready pod and one DaemonSet pod per node, a budget that allows nothing
    await pass();
    for (const m of fake.live('eu-west-1')) await register(m);
    await pass();
    for (const [i, nodeName] of fake.live('eu-west-1').map(nameOf).entries()) {
      for (const [name, owner] of [
        [`app-${i}`, { kind: 'ReplicaSet', name: 'app', uid: 'rs-1' }],
        [`logs-${i}`, { kind: 'DaemonSet', name: 'logs', uid: 'ds-1' }],
      ] as const) {
        const pod = makePod(name, { owner, labels: { app: name.split('-')[0] as string } });
        await store.create({
          ...pod,
          spec: { ...pod.spec, nodeName },
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
        } as Pod);
      }
    }
    await store.create({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'app', namespace: 'default', generation: 1 },
      spec: { minAvailable: 3, selector: { matchLabels: { app: 'app' } } },
      status: { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 3, expectedPods: 3 },
    } as Obj);
    const p = await pool();
    await store.update({ ...p, spec: { ...p.spec, desiredNodes: 2 } });

    // act: retire, then wait well past the retirement timeout
    await pass();
    now += 600_000;
    await pass();
    const blocked = (await store.list<Pod>('Pod')).items.filter((x) => x.metadata.deletionTimestamp);
    const machinesWhileBlocked = fake.live('eu-west-1').length;
    const events = (await store.list<Obj & { reason: string; message: string }>('Event')).items;
    const budget = (await store.get({ kind: 'PodDisruptionBudget', namespace: 'default', name: 'app' })) as Obj;
    await store.update({ ...budget, status: { ...(budget.status as object), disruptionsAllowed: 1 } });
    await pass();
    const evicted = (await store.list<Pod>('Pod')).items.filter((x) => x.metadata.deletionTimestamp);
    await store.delete({ kind: 'Pod', namespace: 'default', name: (evicted[0] as Pod).metadata.name }); // the agent stopped it
    await pass();

    // assess
    expect(blocked).toEqual([]);
    expect(machinesWhileBlocked).toBe(3);
    expect(events.find((e) => e.reason === 'EvictionBlocked')?.message).toContain(
      "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    expect(evicted.map((x) => x.metadata.name)).toEqual([expect.stringMatching(/^app-/)]);
    expect(fake.live('eu-west-1')).toHaveLength(2); // the DaemonSet pod did not hold the machine
    const left = (await store.list<Pod>('Pod')).items.map((x) => x.metadata.name);
    expect(left.filter((n) => n.startsWith('logs-'))).toHaveLength(2);
  });

  it('skips a zone without capacity and says so', async () => {
    fake.full.add('eu-west-1a');
    await pass();

    expect(fake.live('eu-west-1').map((m) => m.Placement?.AvailabilityZone)).toEqual([
      'eu-west-1b',
      'eu-west-1b',
      'eu-west-1b',
    ]);
    const events = (await store.list<Obj & { reason: string }>('Event')).items.map((e) => e.reason);
    expect(events).toContain('InsufficientCapacity');
    // The failed attempts left no usable bootstrap token behind.
    expect((await store.list('Token')).items).toHaveLength(3);
  });

  it('moves to another Cloud surge-first: old nodes leave one at a time, only while the new ones are Ready', async () => {
    await pass();
    for (const m of fake.live('eu-west-1')) await register(m);
    await pass();

    const p = await pool();
    // A surge as large as the pool: the whole new Cloud first, then the old nodes leave.
    await store.update({ ...p, spec: { ...p.spec, cloud: 'aws-us', zones: ['us-east-1a'], maxSurge: 3 } });
    await pass();

    expect(fake.live('us-east-1')).toHaveLength(3);
    expect(fake.live('eu-west-1')).toHaveLength(3);
    const migrating = (await pool()).status?.conditions?.find((c) => c.type === 'Migrating');
    expect(migrating).toMatchObject({ status: 'True' });
    const retiring = async () =>
      (await store.list<Node>('Node')).items.filter((n) => n.metadata.annotations?.[RETIRING_ANNOTATION]).length;
    expect(await retiring()).toBe(0); // nothing leaves before the new nodes are Ready

    for (const m of fake.live('us-east-1')) await register(m);
    for (let round = 0; round < 6 && fake.live('eu-west-1').length > 0; round++) {
      await pass();
      expect(await retiring()).toBeLessThanOrEqual(1);
    }

    expect(fake.live('eu-west-1')).toHaveLength(0);
    const nodes = (await store.list<Node>('Node')).items;
    expect(nodes.map((n) => n.metadata.labels?.['ferry.dev/cloud'])).toEqual(['aws-us', 'aws-us', 'aws-us']);
    expect((await pool()).status?.conditions?.some((c) => c.type === 'Migrating')).toBe(false);
  });

  it('names a missing Cloud in a condition and creates nothing', async () => {
    const p = await pool();
    await store.update({ ...p, spec: { ...p.spec, cloud: 'nope' } });
    await pass();

    expect(fake.live('eu-west-1')).toHaveLength(0);
    expect((await pool()).status?.conditions?.[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'CloudNotFound',
    });
  });
});
