/**
 * An in-memory CloudProvider for tests, as Karpenter ships `cloudprovider/fake`: it records every
 * call, keeps machines per Cloud uid the way the real adapters tag them, and can be told to
 * misbehave the ways a real cloud (or a buggy adapter) does, so the node pool controller's guards
 * can be shown to hold: fail the next creates, list every Cloud's machines as if they were this
 * one's, or keep machines from ever registering (the test decides who registers).
 */
import {
  type CloudProvider,
  type Instance,
  type InstanceFilter,
  type InstanceSpec,
  InsufficientCapacityError,
  type LoadBalancerIngress,
  type LoadBalancerNode,
  type LoadBalancerService,
  type MachineCapacity,
} from './types';

export interface FakeMachine extends Instance {
  cluster: string;
  spec: InstanceSpec;
}

export class FakeProvider implements CloudProvider {
  readonly type = 'fake';
  /** Every machine ever made, deleted ones marked `terminated`. */
  readonly machines = new Map<string, FakeMachine>();
  readonly calls: { method: string; arg: unknown }[] = [];
  /** Errors the next createInstance calls throw, in order (Karpenter's NextCreateErr). */
  readonly nextCreateErrors: Error[] = [];
  /** Zones without capacity: creates there throw InsufficientCapacityError. */
  readonly fullZones = new Set<string>();
  /** Lie: list the machines of every Cloud, tagged as the one asked for (the loop of issue 17). */
  listsEveryCloud = false;
  /** Lie: machines of Cloud uid K are listed as machines of Cloud uid V (and not as K's). */
  readonly listsAs = new Map<string, string>();
  /** What machineCapacity answers, by instance type; a type not here is unknown. */
  readonly machineTypes = new Map<string, MachineCapacity>();
  /** Lie: machineCapacity throws (an adapter breaking its contract); callers must treat it as unknown. */
  machineCapacityThrows = false;
  readonly loadBalancers = new Map<string, { service: LoadBalancerService; nodes: LoadBalancerNode[] }>();
  private seq = 0;

  /** `label` goes into load balancer hostnames, to tell two fakes apart. */
  constructor(readonly label = 'fake') {}

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    this.calls.push({ method: 'createInstance', arg: spec });
    const err = this.nextCreateErrors.shift();
    if (err) throw err;
    if (this.fullZones.has(spec.zone)) throw new InsufficientCapacityError(`fake: no capacity in ${spec.zone}`);
    const machine: FakeMachine = {
      id: `fake-${++this.seq}`,
      name: spec.name,
      pool: spec.pool,
      zone: spec.zone,
      state: 'pending',
      privateIp: `10.0.0.${this.seq % 250}`,
      cloudUid: spec.cloud.uid,
      tags: { cloud: spec.cloud.name, 'cloud-uid': spec.cloud.uid },
      cluster: spec.cluster,
      spec,
    };
    this.machines.set(machine.id, machine);
    return this.view(machine, spec.cloud.uid);
  }

  async machineCapacity(instanceType: string, zone: string): Promise<MachineCapacity | undefined> {
    this.calls.push({ method: 'machineCapacity', arg: { instanceType, zone } });
    if (this.machineCapacityThrows) throw new Error('fake: machineCapacity failed');
    return this.machineTypes.get(instanceType);
  }

  async deleteInstance(id: string): Promise<void> {
    this.calls.push({ method: 'deleteInstance', arg: id });
    const m = this.machines.get(id);
    if (m) m.state = 'terminated';
  }

  async listInstances(filter: InstanceFilter): Promise<Instance[]> {
    this.calls.push({ method: 'listInstances', arg: filter });
    const listedAs = (m: FakeMachine) => this.listsAs.get(m.cloudUid as string) ?? m.cloudUid;
    return [...this.machines.values()]
      .filter(
        (m) =>
          m.state !== 'terminated' &&
          m.cluster === filter.cluster &&
          (this.listsEveryCloud || listedAs(m) === filter.cloud.uid) &&
          (!filter.pool || m.pool === filter.pool),
      )
      .map((m) => this.view(m, filter.cloud.uid));
  }

  async ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    this.calls.push({ method: 'ensureLoadBalancer', arg: service });
    this.loadBalancers.set(`${service.namespace}/${service.name}`, { service, nodes });
    return { hostname: `${service.name}.${service.namespace}.${this.label}.example` };
  }

  async deleteLoadBalancer(service: { namespace: string; name: string }): Promise<void> {
    this.calls.push({ method: 'deleteLoadBalancer', arg: service });
    this.loadBalancers.delete(`${service.namespace}/${service.name}`);
  }

  /** Machines not terminated (of any Cloud). */
  live(cloudUid?: string): FakeMachine[] {
    return [...this.machines.values()].filter(
      (m) => m.state !== 'terminated' && (cloudUid === undefined || m.cloudUid === cloudUid),
    );
  }

  /** How many machines createInstance has made. */
  get made(): number {
    return this.machines.size;
  }

  private view(m: FakeMachine, cloudUid: string): Instance {
    const { cluster: _c, spec: _s, ...instance } = m;
    return { ...instance, cloudUid, tags: { ...m.tags, 'cloud-uid': cloudUid } };
  }
}
