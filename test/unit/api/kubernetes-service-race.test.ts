/**
 * Two re-makes of the `kubernetes` Service at once (two servers, or the API and the controllers):
 * the loser's failed write must not release a claim the winner's Service now holds, or its
 * address and node port could be handed to another Service.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER_IP_CLAIM_KIND } from '../../../functions/cluster-ips';
import type { Deps } from '../../../functions/deps';
import {
  ensureKubernetesService,
  KUBERNETES_SERVICE,
  kubernetesServiceRanges,
} from '../../../functions/kubernetes-service';
import { silentLogger } from '../../../functions/log';
import { DEFAULT_NODE_PORT_RANGE, NODE_PORT_CLAIM_KIND } from '../../../functions/node-ports';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj, StateStore } from '../../../functions/store/types';

const REF = { kind: 'Service', ...KUBERNETES_SERVICE };
const OWNER = 'default/kubernetes';
type Svc = Obj & { spec: { clusterIP: string; ports: { port: number; nodePort?: number }[] } };
const ranges = kubernetesServiceRanges({});

/**
 * A store whose first Service write waits until a second one has been made: the first re-make
 * claims first but writes last, and so loses.
 */
function slowFirstWrite(store: MemoryStore): StateStore {
  let writes = 0;
  let second: () => void = () => undefined;
  const secondDone = new Promise<void>((r) => {
    second = r;
  });
  const gate = async <T>(obj: Obj, write: () => Promise<T>): Promise<T> => {
    if (obj.kind !== 'Service') return write();
    writes++;
    if (writes === 1) {
      await secondDone;
      return write();
    }
    try {
      return await write();
    } finally {
      second();
    }
  };
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'create') return (obj: Obj) => gate(obj, () => target.create(obj));
      if (key === 'update') return (obj: Obj) => gate(obj, () => target.update(obj));
      const v = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function claimOwner(store: MemoryStore, kind: string, name: string): Promise<string | undefined> {
  return ((await store.get({ kind, name })) as (Obj & { spec: { service: string } }) | undefined)?.spec.service;
}

describe('the kubernetes Service made twice at once', () => {
  it("keeps the winner's cluster IP claim when the loser's create fails", async () => {
    // prepare
    const store = new MemoryStore();
    const gated = slowFirstWrite(store);
    const slow: Deps = { store: gated, clock: Date.now, log: silentLogger };
    const fast: Deps = { store: gated, clock: Date.now, log: silentLogger };

    // act: the slow one claims first, the fast one creates first
    const first = ensureKubernetesService(slow, ranges);
    await new Promise((r) => setTimeout(r, 20));
    await ensureKubernetesService(fast, ranges);
    await first;

    // assess
    const svc = (await store.get(REF)) as Svc;
    expect(svc.spec.clusterIP).toBe('10.96.0.1');
    expect(await claimOwner(store, CLUSTER_IP_CLAIM_KIND, '10.96.0.1')).toBe(OWNER);
    const nodePort = svc.spec.ports[0]?.nodePort as number;
    expect(nodePort).toBeGreaterThanOrEqual(DEFAULT_NODE_PORT_RANGE.min);
    expect(await claimOwner(store, NODE_PORT_CLAIM_KIND, String(nodePort))).toBe(OWNER);
    // Nothing else is held for it: the loser's own node port went back.
    expect((await store.list(NODE_PORT_CLAIM_KIND)).items).toHaveLength(1);
  });

  it("keeps the winner's node port claim when the loser's put-back conflicts", async () => {
    // prepare: the Service edited out of shape, and its node port's claim gone (released with a change of type)
    const store = new MemoryStore();
    await ensureKubernetesService({ store, clock: Date.now, log: silentLogger }, ranges);
    const made = (await store.get(REF)) as Svc;
    const nodePort = made.spec.ports[0]?.nodePort as number;
    await store.update({ ...made, spec: { ...made.spec, ports: [{ port: 8443, nodePort }] } });
    await store.delete({ kind: NODE_PORT_CLAIM_KIND, name: String(nodePort) });
    const gated = slowFirstWrite(store);
    const slow: Deps = { store: gated, clock: Date.now, log: silentLogger };
    const fast: Deps = { store: gated, clock: Date.now, log: silentLogger };

    // act
    const first = ensureKubernetesService(slow, ranges);
    await new Promise((r) => setTimeout(r, 20));
    await ensureKubernetesService(fast, ranges);
    await first;

    // assess
    const svc = (await store.get(REF)) as Svc;
    expect(svc.spec.ports).toMatchObject([{ port: 443, nodePort }]);
    expect(await claimOwner(store, NODE_PORT_CLAIM_KIND, String(nodePort))).toBe(OWNER);
    expect(await claimOwner(store, CLUSTER_IP_CLAIM_KIND, '10.96.0.1')).toBe(OWNER);
  });
});
