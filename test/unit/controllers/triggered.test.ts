/**
 * The service-accounts and ingress controllers run only when a write of a kind they act on
 * happened (functions/controllers/due.ts), not in every round of every pass: an unrelated write's
 * pass leaves them out, a relevant one runs them, another controller's write in the same pass runs
 * them in its next round, a failed provider call is retried without a write, and a new manager
 * (a restart, a Lambda cold start) runs them once whatever triggered it, so nothing is missed.
 */
import { describe, expect, it } from 'vitest';
import { createControllerManager } from '../../../functions/controllers/manager';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import { FakeProvider } from '../../../providers/fake';
import type { LoadBalancerIngress, LoadBalancerNode, LoadBalancerService } from '../../../providers/types';
import { FERRY_INGRESS_CLASS } from '../../../schemas/networking';
import { countingStore, until } from '../../helpers/store-calls';

const SA = { kind: 'ServiceAccount', namespace: 'default', name: 'default' };
const CLASS = { kind: 'IngressClass', name: FERRY_INGRESS_CLASS };

/** A store with the `default` Namespace, and deps for a manager over it that count its calls. */
async function cluster(): Promise<{ store: MemoryStore; deps: Deps; calls: string[] }> {
  const store = new MemoryStore();
  await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const { store: counted, calls } = countingStore(store);
  return { store, deps: { store: counted, clock: Date.now, log: silentLogger }, calls };
}

/** Times the ingress controller ran: it reads its table record once per run (nothing else does). */
const ingressRuns = (calls: string[]) => calls.filter((c) => c === 'get IngressTable').length;

/** An Ingress of the built-in (default) class, everything to one backend. */
const shopIngress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'shop', namespace: 'default' },
  spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
};

const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });

describe('triggered controllers', () => {
  it('a pass triggered by an unrelated write runs neither; a write of their kinds runs the one it concerns', async () => {
    // prepare: the first pass of a new manager runs both
    const c = await cluster();
    const manager = createControllerManager(c.deps);
    await manager.runLeased();
    expect(await c.store.get(SA)).toBeDefined();
    expect(await c.store.get(CLASS)).toBeDefined();
    // What each would repair if it ran, removed behind the manager's back (no watch, no note).
    await c.store.delete(SA);
    await c.store.delete(CLASS);
    const before = ingressRuns(c.calls);

    // act + assess: an unrelated write
    manager.noteWrites(['ConfigMap']);
    await manager.runLeased();
    expect(await c.store.get(SA)).toBeUndefined();
    expect(await c.store.get(CLASS)).toBeUndefined();
    expect(ingressRuns(c.calls)).toBe(before);

    // a ServiceAccount write runs service-accounts only
    manager.noteWrites(['ServiceAccount']);
    await manager.runLeased();
    expect(await c.store.get(SA)).toBeDefined();
    expect(await c.store.get(CLASS)).toBeUndefined();

    // an IngressClass write runs ingress
    manager.noteWrites(['IngressClass']);
    await manager.runLeased();
    expect(await c.store.get(CLASS)).toBeDefined();
    expect(ingressRuns(c.calls)).toBe(before + 1);
    await manager.stop();
  });

  it('through the watch: a ConfigMap write runs a pass without them, a Namespace write runs service-accounts', async () => {
    const c = await cluster();
    const manager = createControllerManager(c.deps, { resyncMs: 3_600_000, debounceMs: 5 });
    const passes = () => c.calls.filter((x) => x === 'list Deployment').length;
    manager.start();
    await until('the first pass', () => c.store.get(SA).then(Boolean));
    await until('the first pass to end', async () => {
      const n = passes();
      await new Promise((r) => setTimeout(r, 100));
      return n === passes() && ingressRuns(c.calls) > 0;
    });
    const ingressBefore = ingressRuns(c.calls);
    const passesBefore = passes();

    await c.store.create(configMap('unrelated'));
    await until('a pass after the ConfigMap', () => passes() > passesBefore);
    expect(ingressRuns(c.calls)).toBe(ingressBefore);
    expect(c.calls.filter((x) => x === 'list ServiceAccount')).toHaveLength(1);

    await c.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    await until('the new namespace`s default ServiceAccount', () =>
      c.store.get({ ...SA, namespace: 'team-a' }).then(Boolean),
    );
    expect(ingressRuns(c.calls)).toBe(ingressBefore);
    await manager.stop();
  });

  it("another controller's write in the same pass runs them in its next round", async () => {
    // prepare: a Node the ingress controller has seen Ready, whose Lease then went stale
    const c = await cluster();
    let now = Date.now(); // the store stamps creationTimestamp by the real clock
    const deps = { ...c.deps, clock: () => now };
    // A long expected interval: the late second look is not read as the control plane's own lag.
    const manager = createControllerManager(deps, { nodeGracePeriodMs: 40_000, expectedIntervalMs: 600_000 });
    const ready = { type: 'Ready', status: 'True', lastHeartbeatTime: new Date(now).toISOString() };
    await c.store.create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      status: { conditions: [ready], addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] },
    });
    await c.store.create(shopIngress);
    await manager.runLeased();
    const shop = { kind: 'Ingress', namespace: 'default', name: 'shop' };
    const status = async () => JSON.stringify((await c.store.get(shop))?.status);
    expect(await status()).toContain('10.0.0.5');

    // act: a pass for an unrelated write, in which node-lifecycle marks the node NotReady
    now += 120_000;
    manager.noteWrites(['ConfigMap']);
    await manager.runLeased();

    // assess: the ingress controller ran after that write, in the same pass
    const node = await c.store.get({ kind: 'Node', name: 'n1' });
    expect(JSON.stringify(node?.status)).toContain('"status":"Unknown"');
    expect(await status()).not.toContain('10.0.0.5');
    await manager.stop();
  });

  it('a failed load balancer call is tried again at the next pass, with no write to trigger it', async () => {
    class FailsOnce extends FakeProvider {
      failures = 1;
      override async ensureLoadBalancer(s: LoadBalancerService, n: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
        if (this.failures-- > 0) {
          this.calls.push({ method: 'ensureLoadBalancer', arg: s });
          throw new Error('fake: the cloud is down');
        }
        return super.ensureLoadBalancer(s, n);
      }
    }
    const provider = new FailsOnce();
    const c = await cluster();
    await c.store.create(shopIngress);
    const manager = createControllerManager(c.deps, { provider });
    await manager.runLeased();
    const lbCalls = () => provider.calls.filter((x) => x.method === 'ensureLoadBalancer').length;
    expect(lbCalls()).toBe(1);

    manager.noteWrites(['ConfigMap']);
    await manager.runLeased();

    expect(lbCalls()).toBe(2);
    const ing = await c.store.get({ kind: 'Ingress', namespace: 'default', name: 'shop' });
    expect(JSON.stringify(ing?.status)).toContain('loadBalancer');
    await manager.stop();
  });

  it('a failed load balancer deletion is tried again at the next pass until it is gone', async () => {
    class DeleteFailsOnce extends FakeProvider {
      failures = 1;
      override async deleteLoadBalancer(s: { namespace: string; name: string }): Promise<void> {
        if (this.failures-- > 0) {
          this.calls.push({ method: 'deleteLoadBalancer', arg: s });
          throw new Error('fake: the cloud is down');
        }
        return super.deleteLoadBalancer(s);
      }
    }
    const provider = new DeleteFailsOnce();
    const c = await cluster();
    await c.store.create(shopIngress);
    const manager = createControllerManager(c.deps, { provider });
    await manager.runLeased();
    await c.store.delete({ kind: 'Ingress', namespace: 'default', name: 'shop' });
    const deletes = () => provider.calls.filter((x) => x.method === 'deleteLoadBalancer').length;

    manager.noteWrites(['Ingress']);
    await manager.runLeased();
    expect(deletes()).toBe(1);
    manager.noteWrites(['ConfigMap']);
    await manager.runLeased();
    expect(deletes()).toBe(2);
    manager.noteWrites(['Ingress']);
    await manager.runLeased();

    expect(deletes()).toBe(2);
    await manager.stop();
  });

  it("the scheduled check's full resync (hourly on Lambda) runs them with no write to trigger it", async () => {
    const c = await cluster();
    let now = Date.now();
    const manager = createControllerManager({ ...c.deps, clock: () => now }, { fullResyncMs: 60_000 });
    await manager.runLeased();
    await c.store.delete(SA);

    now += 30_000;
    expect(await manager.runScheduled()).toBe(false);
    expect(await c.store.get(SA)).toBeUndefined();

    now += 30_000;
    expect(await manager.runScheduled()).toBe(true);
    expect(await c.store.get(SA)).toBeDefined();
    await manager.stop();
  });

  it('a new manager runs them at its first pass, whatever triggered it: nothing written while none ran is missed', async () => {
    const c = await cluster();
    const first = createControllerManager(c.deps);
    await first.runLeased();
    await first.stop(); // releases the lease, as a process that exits does
    await c.store.delete(SA);
    await c.store.delete(CLASS);

    const restarted = createControllerManager(c.deps);
    restarted.noteWrites(['ConfigMap']);
    await restarted.runLeased();

    expect(await c.store.get(SA)).toBeDefined();
    expect(await c.store.get(CLASS)).toBeDefined();
    await restarted.stop();
  });
});
