/**
 * ServiceAccount admission and the default ServiceAccount: every namespace gets `default`; a pod
 * runs as it unless it names another, which must exist (403 as Kubernetes); a ServiceAccount's
 * imagePullSecrets reach its pods; controller-made pods pass the same admission.
 */
import { describe, expect, it } from 'vitest';
import { standaloneContext } from '../../../functions/controllers/controller';
import { createControllerManager } from '../../../functions/controllers/manager';
import { podTokenSweeper } from '../../../functions/controllers/service-accounts';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { issueToken } from '../../../functions/tokens';
import { namespace, startApi } from '../api/harness';

const podBody = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
});

describe('ServiceAccount admission', () => {
  it('has a default ServiceAccount in every namespace the server starts with', async () => {
    // act
    const api = await startApi();

    // assess
    const list = await api.send('GET', '/api/v1/serviceaccounts');
    expect((list.json.items ?? []).map((sa) => `${(sa.metadata as Obj['metadata']).namespace}/default`).sort()).toEqual(
      ['default/default', 'kube-node-lease/default', 'kube-system/default'],
    );
  });

  it('refuses a pod naming a ServiceAccount that does not exist, with Kubernetes message, and stores nothing', async () => {
    // prepare
    const api = await startApi();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: podBody('p', { serviceAccountName: 'ghost' }),
    });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toBe(
      'pods "p" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
    );
    expect((await api.store.list('Pod')).items).toHaveLength(0);
  });

  it('admits a pod whose ServiceAccount comes in the same apply bundle', async () => {
    // prepare
    const api = await startApi();
    const bundle = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot', namespace: 'default' } },
      { ...podBody('p', { serviceAccountName: 'robot' }), metadata: { name: 'p', namespace: 'default' } },
    ];

    // act
    const res = await api.send('POST', '/apis/ferry.dev/v1/apply', { body: bundle });

    // assess
    expect(res.status).toBe(200);
  });

  it("gives a pod its ServiceAccount's imagePullSecrets when it lists none", async () => {
    // prepare
    const api = await startApi();
    await api.send('POST', '/api/v1/namespaces/default/serviceaccounts', {
      body: {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'puller' },
        imagePullSecrets: [{ name: 'registry' }],
      },
    });

    // act
    const inherits = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: podBody('a', { serviceAccountName: 'puller' }),
    });
    const own = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: podBody('b', { serviceAccountName: 'puller', imagePullSecrets: [{ name: 'mine' }] }),
    });

    // assess
    expect((inherits.json.spec as Record<string, unknown>).imagePullSecrets).toEqual([{ name: 'registry' }]);
    expect((own.json.spec as Record<string, unknown>).imagePullSecrets).toEqual([{ name: 'mine' }]);
  });

  it('refuses a pod whose serviceAccountName is not a DNS subdomain, naming the field', async () => {
    // prepare
    const api = await startApi();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: podBody('p', { serviceAccountName: 'Not_Valid' }),
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('spec.serviceAccountName');
  });
});

describe('the service-accounts controller', () => {
  async function cluster() {
    const store = new MemoryStore(() => 1_700_000_000_000);
    const deps: Deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
    await store.create(namespace('team') as Obj);
    return { store, deps };
  }

  it('creates the default ServiceAccount of a new namespace, and again after it is deleted', async () => {
    // prepare
    const { store, deps } = await cluster();
    const manager = createControllerManager(deps);

    // act
    await manager.runOnce();
    const first = await store.get({ kind: 'ServiceAccount', namespace: 'team', name: 'default' });
    await store.delete({ kind: 'ServiceAccount', namespace: 'team', name: 'default' });
    await manager.runOnce();
    const again = await store.get({ kind: 'ServiceAccount', namespace: 'team', name: 'default' });

    // assess
    expect(first).toBeDefined();
    expect(again?.metadata.uid).not.toBe(first?.metadata.uid);
  });

  it('lets a ReplicaSet create no pod for a missing ServiceAccount, saying so in a FailedCreate event', async () => {
    // prepare
    const { store, deps } = await cluster();
    await store.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web', namespace: 'team' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { serviceAccountName: 'robot', containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
        },
      },
    } as Obj);

    // act
    await createControllerManager(deps).runOnce();

    // assess
    expect((await store.list('Pod', { namespace: 'team' })).items).toHaveLength(0);
    const events = (await store.list('Event', { namespace: 'team' })).items as (Obj & {
      reason?: string;
      message?: string;
    })[];
    expect(events.find((e) => e.reason === 'FailedCreate')?.message).toContain('serviceaccount "robot" not found');
  });

  it('sweeps the token records of gone pods at most once a minute', async () => {
    // prepare
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    const deps: Deps = { store, clock: () => now.ms, log: silentLogger };
    const bound = { namespace: 'team', name: 'gone', uid: 'u1', serviceAccountName: 'default', serviceAccountUid: 's' };
    const sweep = podTokenSweeper();
    const tokens = async () => (await store.list('Token')).items.length;

    // act
    await sweep(standaloneContext(deps));
    await issueToken(deps, { role: 'serviceaccount', ttlSeconds: 3600, boundPod: bound });
    now.ms += 30_000;
    await sweep(standaloneContext(deps));
    const within = await tokens();
    now.ms += 31_000;
    await sweep(standaloneContext(deps));

    // assess
    expect(within).toBe(1);
    expect(await tokens()).toBe(0);
  });
});
