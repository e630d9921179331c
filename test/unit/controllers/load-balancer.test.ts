/**
 * The service controller with the local provider's real load balancer on loopback: ingress in
 * status, traffic only to Ready nodes, the provider called only when something changed, and the
 * load balancer removed with its Service.
 */
import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcileLoadBalancers } from '../../../functions/controllers/load-balancer';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { FakeProvider } from '../../../providers/fake';
import { LocalLoadBalancers } from '../../../providers/local-lb';
import type { CloudConfig, CloudProvider, LoadBalancerNode, LoadBalancerService } from '../../../providers/types';
import type { Service } from '../../../schemas/service';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const servers: Server[] = [];
const lbs = new LocalLoadBalancers('127.0.3');

afterEach(async () => {
  await lbs.closeAll();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function provider(calls: string[]): CloudProvider {
  return {
    type: 'test',
    createInstance: () => Promise.reject(new Error('unused')),
    deleteInstance: () => Promise.resolve(),
    listInstances: () => Promise.resolve([]),
    ensureLoadBalancer: (svc: LoadBalancerService, nodes: LoadBalancerNode[]) => {
      calls.push(
        `ensure ${svc.name} ${nodes
          .filter((n) => n.ready)
          .map((n) => n.name)
          .join(',')}`,
      );
      return lbs.ensure(svc, nodes);
    },
    deleteLoadBalancer: (svc) => {
      calls.push(`delete ${svc.name}`);
      return lbs.delete(svc);
    },
  };
}

/** A "node port" on a node address that answers with the node's name. */
async function nodePortOn(address: string, name: string, port: number): Promise<void> {
  const s = createServer((sock) => {
    sock.on('error', () => {});
    sock.end(name);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, address, r));
}

function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let data = '';
    sock.on('data', (d) => {
      data += d;
    });
    sock.on('close', () => resolve(data));
    sock.on('error', reject);
  });
}

function node(name: string, address: string, ready: boolean): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      addresses: [{ type: 'InternalIP', address }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }],
    },
  };
}

describe('load balancer controller', () => {
  it('gives a LoadBalancer Service an address that spreads over Ready nodes only, and removes it with the Service', async () => {
    // prepare
    const port = 30000 + Math.floor(Math.random() * 2000);
    await nodePortOn('127.0.1.201', 'n1', port);
    await nodePortOn('127.0.1.202', 'n2', port);
    await nodePortOn('127.0.1.203', 'n3', port);
    const deps: Deps = { store: new MemoryStore(() => T0), clock: () => T0, log: silentLogger };
    for (const n of [
      node('n1', '127.0.1.201', true),
      node('n2', '127.0.1.202', true),
      node('n3', '127.0.1.203', false),
    ])
      await deps.store.create(n);
    await deps.store.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'web' },
        ports: [{ port: 8081, nodePort: port, protocol: 'TCP' }],
      },
    });
    const calls: string[] = [];
    const p = provider(calls);

    // act
    await reconcileLoadBalancers(deps, p);
    await reconcileLoadBalancers(deps, p);
    const svc = await deps.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'web' });
    const ingress = svc?.status?.loadBalancer?.ingress?.[0] as { ip: string; ports: { port: number }[] };
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await ask(ingress.ip, ingress.ports[0]?.port as number));
    await deps.store.delete({ kind: 'Service', namespace: 'default', name: 'web' });
    await reconcileLoadBalancers(deps, p);

    // assess
    expect(ingress.ip).toBe('127.0.3.1');
    expect(answers.sort()).toEqual(['n1', 'n1', 'n1', 'n2', 'n2', 'n2']);
    expect(calls).toEqual(['ensure web n1,n2', 'delete web']);
    expect(await ask(ingress.ip, ingress.ports[0]?.port as number).catch((e: Error) => e.message)).toMatch(
      /ECONNREFUSED/,
    );
    expect((await deps.store.list('LoadBalancerRecord')).items).toEqual([]);
  });

  it('leaves the Service pending with one Warning Event when there is no provider', async () => {
    // prepare
    const deps: Deps = { store: new MemoryStore(() => T0), clock: () => T0, log: silentLogger };
    await deps.store.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', uid: 'u1' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] },
    });

    // act
    await reconcileLoadBalancers(deps, undefined);
    await reconcileLoadBalancers(deps, undefined);

    // assess
    const events = (await deps.store.list('Event')).items as unknown as { reason: string; count: number }[];
    expect(events.map((e) => [e.reason, e.count])).toEqual([['NoCloudProvider', 1]]);
    const svc = await deps.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'web' });
    expect(svc?.status?.loadBalancer?.ingress).toBeUndefined();
  });
});

describe('load balancer controller across Clouds', () => {
  it('lists the load balancer of every Cloud with Ready nodes during a move, and deletes the old one when its nodes are gone', async () => {
    // prepare
    const deps: Deps = { store: new MemoryStore(() => T0), clock: () => T0, log: silentLogger };
    const fakes = new Map([
      ['aws-eu', new FakeProvider('eu')],
      ['aws-us', new FakeProvider('us')],
    ]);
    for (const name of fakes.keys())
      await deps.store.create({
        apiVersion: 'ferry.dev/v1',
        kind: 'Cloud',
        metadata: { name },
        spec: { type: 'aws', region: 'x' },
      });
    const cloudNode = (name: string, cloud: string, ready: boolean) => {
      const n = node(name, `10.0.0.${name.length}`, ready);
      return { ...n, metadata: { ...n.metadata, labels: { 'ferry.dev/cloud': cloud } } };
    };
    await deps.store.create(cloudNode('eu-1', 'aws-eu', true));
    await deps.store.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] },
    });
    const clouds = {
      cluster: 'prod',
      providerFor: async (c: CloudConfig) => fakes.get(c.name) as FakeProvider,
    };
    const ingress = async () =>
      (await deps.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'web' }))?.status?.loadBalancer
        ?.ingress;

    // act and assess: one Cloud, then two while the pool moves, then the new one alone
    await reconcileLoadBalancers(deps, undefined, clouds);
    expect(await ingress()).toEqual([{ hostname: 'web.default.eu.example' }]);

    await deps.store.create(cloudNode('us-1', 'aws-us', true));
    await reconcileLoadBalancers(deps, undefined, clouds);
    expect(await ingress()).toEqual([{ hostname: 'web.default.eu.example' }, { hostname: 'web.default.us.example' }]);
    expect(fakes.get('aws-us')?.loadBalancers.get('default/web')?.service).toMatchObject({ cluster: 'prod' });

    // The pool retires the old node: it leaves the load balancers before its machine goes.
    const eu = (await deps.store.get<Obj>({ kind: 'Node', name: 'eu-1' })) as Obj;
    await deps.store.update({
      ...eu,
      metadata: { ...eu.metadata, annotations: { 'ferry.dev/retiring-since': '2026-01-01T00:00:00Z' } },
    });
    await reconcileLoadBalancers(deps, undefined, clouds);
    expect(await ingress()).toEqual([{ hostname: 'web.default.us.example' }]);
    expect(fakes.get('aws-eu')?.loadBalancers.size).toBe(0);

    await deps.store.delete({ kind: 'Node', name: 'eu-1' });
    await reconcileLoadBalancers(deps, undefined, clouds);
    expect(await ingress()).toEqual([{ hostname: 'web.default.us.example' }]);

    await deps.store.delete({ kind: 'Service', namespace: 'default', name: 'web' });
    await reconcileLoadBalancers(deps, undefined, clouds);
    expect(fakes.get('aws-us')?.loadBalancers.size).toBe(0);
    expect((await deps.store.list('LoadBalancerRecord')).items).toEqual([]);
  });
});
