/**
 * Pods the controllers create pass the same admission as a user's (functions/admission): a
 * namespace's ResourceQuota stops a ReplicaSet at its pod limit with a FailedCreate event, and a
 * LimitRange's defaults land on the pods it makes.
 */
import { describe, expect, it } from 'vitest';
import { createControllerManager } from '../../../functions/controllers/manager';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import type { Pod } from '../../../schemas';

async function cluster() {
  const store = new MemoryStore(() => 1_700_000_000_000);
  const deps: Deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
  await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  const rs = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'team' },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      },
    },
  };
  return { store, deps, rs };
}

describe('controller-created pods and admission', () => {
  it('stops a ReplicaSet at the namespace quota and says so in a FailedCreate event', async () => {
    const { store, deps, rs } = await cluster();
    await store.create({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'q', namespace: 'team' },
      spec: { hard: { pods: '2' } },
    } as Obj);
    await store.create(rs as Obj);

    await createControllerManager(deps).runOnce();

    const pods = (await store.list<Pod>('Pod', { namespace: 'team' })).items;
    expect(pods).toHaveLength(2);
    const events = (await store.list('Event', { namespace: 'team' })).items as (Obj & {
      reason?: string;
      message?: string;
    })[];
    const failed = events.find((e) => e.reason === 'FailedCreate');
    expect(failed?.message).toContain('exceeded quota: q');
  });

  it("puts a LimitRange's default requests on the pods a ReplicaSet creates", async () => {
    const { store, deps, rs } = await cluster();
    await store.create({
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'defaults', namespace: 'team' },
      spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '100m' }, default: { cpu: '200m' } }] },
    } as Obj);
    await store.create({ ...rs, spec: { ...rs.spec, replicas: 1 } } as Obj);

    await createControllerManager(deps).runOnce();

    const [pod] = (await store.list<Pod>('Pod', { namespace: 'team' })).items;
    expect(pod?.spec.containers[0]?.resources?.requests?.cpu).toBe('100m');
    expect(pod?.spec.containers[0]?.resources?.limits?.cpu).toBe('200m');
  });
});
