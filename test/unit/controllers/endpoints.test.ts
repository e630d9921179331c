import { describe, expect, it } from 'vitest';
import { reconcileEndpoints } from '../../../functions/controllers/endpoints';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import type { Endpoints } from '../../../schemas/service';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function deps(): Deps {
  return { store: new MemoryStore(() => T0), clock: () => T0, log: silentLogger };
}

function node(name: string, ready = true): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
  };
}

function pod(
  name: string,
  opts: {
    node?: string;
    ready?: boolean;
    hostPort?: number;
    app?: string;
    terminating?: boolean;
    portName?: string;
  } = {},
): Obj {
  const n = opts.node ?? 'n1';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      labels: { app: opts.app ?? 'web' },
      ...(opts.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: n, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 8080 }] }] },
    status: {
      phase: 'Running',
      hostIP: n === 'n1' ? '127.0.1.1' : '127.0.1.2',
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
      ...(opts.hostPort !== 0
        ? {
            portMappings: [
              {
                containerName: 'c',
                containerPort: 8080,
                hostPort: opts.hostPort ?? 40000,
                protocol: 'TCP',
                ...(opts.portName ? { name: opts.portName } : {}),
              },
            ],
          }
        : {}),
    },
  };
}

function service(
  name: string,
  targetPort: number | string = 8080,
  selector: Record<string, string> | null = { app: 'web' },
): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { ...(selector ? { selector } : {}), ports: [{ port: 80, targetPort, protocol: 'TCP', nodePort: 30080 }] },
  };
}

async function endpointsOf(d: Deps, name = 'web') {
  return d.store.get<Endpoints>({ kind: 'Endpoints', namespace: 'default', name });
}

const addrs = (ep: Endpoints | undefined, field: 'addresses' | 'notReadyAddresses') =>
  (ep?.subsets ?? [])
    .flatMap((s) => (s[field] ?? []).map((a) => `${a.targetRef?.name}@${a.ip}:${s.ports?.[0]?.port}`))
    .sort();

describe('endpoints controller', () => {
  it('lists ready pods by node address and host port, not-ready ones apart, and skips terminating pods', async () => {
    // prepare
    const d = deps();
    for (const o of [
      node('n1'),
      node('n2'),
      service('web'),
      pod('a', { hostPort: 40001 }),
      pod('b', { node: 'n2', hostPort: 40002 }),
      pod('c', { ready: false, hostPort: 40003 }),
      pod('d', { terminating: true, hostPort: 40004 }),
      pod('other', { app: 'db', hostPort: 40005 }),
    ])
      await d.store.create(o);

    // act
    await reconcileEndpoints(d);

    // assess
    const ep = await endpointsOf(d);
    expect(addrs(ep, 'addresses')).toEqual(['a@127.0.1.1:40001', 'b@127.0.1.2:40002']);
    expect(addrs(ep, 'notReadyAddresses')).toEqual(['c@127.0.1.1:40003']);
    expect(ep?.subsets?.[0]?.addresses?.[0]).toEqual(
      expect.objectContaining({ nodeName: 'n1', targetRef: expect.objectContaining({ kind: 'Pod', name: 'a' }) }),
    );
  });

  it('treats pods on a node that is not Ready as not ready', async () => {
    // prepare
    const d = deps();
    for (const o of [
      node('n1'),
      node('n2', false),
      service('web'),
      pod('a'),
      pod('b', { node: 'n2', hostPort: 40002 }),
    ])
      await d.store.create(o);

    // act
    await reconcileEndpoints(d);

    // assess
    const ep = await endpointsOf(d);
    expect(addrs(ep, 'addresses')).toEqual(['a@127.0.1.1:40000']);
    expect(addrs(ep, 'notReadyAddresses')).toEqual(['b@127.0.1.2:40002']);
  });

  it('resolves a named targetPort, and warns about pods that do not publish the target port', async () => {
    // prepare
    const d = deps();
    for (const o of [node('n1'), service('web', 'http'), pod('a', { portName: 'http' }), pod('b', { hostPort: 40009 })])
      await d.store.create(o);

    // act
    await reconcileEndpoints(d);

    // assess
    expect(addrs(await endpointsOf(d), 'addresses')).toEqual(['a@127.0.1.1:40000']);
    const events = (await d.store.list('Event')).items;
    expect(events.map((e) => (e as { reason?: string }).reason)).toEqual(['PortNotPublished']);
    expect((events[0] as { message?: string }).message).toContain('pod(s) b do not declare target port http');
  });

  it('writes nothing when nothing changed, follows a pod that starts terminating, and deletes with the Service', async () => {
    // prepare
    const d = deps();
    for (const o of [node('n1'), service('web'), pod('a'), pod('b', { hostPort: 40002 })]) await d.store.create(o);
    await reconcileEndpoints(d);
    const first = await endpointsOf(d);

    // act
    await reconcileEndpoints(d);
    const unchanged = await endpointsOf(d);
    const b = await d.store.get({ kind: 'Pod', namespace: 'default', name: 'b' });
    await d.store.update({
      ...(b as Obj),
      metadata: { ...(b as Obj).metadata, deletionTimestamp: '2026-01-01T00:00:01Z' },
    });
    await reconcileEndpoints(d);
    const afterDelete = await endpointsOf(d);
    await d.store.delete({ kind: 'Service', namespace: 'default', name: 'web' });
    await reconcileEndpoints(d);

    // assess
    expect(unchanged?.metadata.resourceVersion).toBe(first?.metadata.resourceVersion);
    expect(addrs(afterDelete, 'addresses')).toEqual(['a@127.0.1.1:40000']);
    expect(await endpointsOf(d)).toBeUndefined();
  });

  it('leaves the Endpoints of a Service without a selector to the user', async () => {
    // prepare
    const d = deps();
    await d.store.create(service('external', 80, null));
    await d.store.create({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'external', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '127.0.0.9' }], ports: [{ port: 5432 }] }],
    });

    // act
    await reconcileEndpoints(d);

    // assess
    expect((await endpointsOf(d, 'external'))?.subsets?.[0]?.addresses).toEqual([{ ip: '127.0.0.9' }]);
  });
});
