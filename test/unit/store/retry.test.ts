/**
 * The conflict idioms, alone and where the API uses them: a write computed by the server from its
 * own read is retried from the object the conflict carries; a write whose client pinned a
 * resourceVersion gets the 409 at once (Kubernetes' optimistic concurrency is the client's).
 * Races are made by a store that lets another writer in just before a chosen write.
 */
import { describe, expect, it } from 'vitest';
import { registerNode } from '../../../functions/api/register';
import { rollbackDeployment } from '../../../functions/api/rollback';
import {
  AlreadyExistsError,
  ConflictError,
  isAlreadyExists,
  isConflict,
  NotFoundError,
} from '../../../functions/errors';
import {
  bumpNodes,
  createNodeDesired,
  type NodeDesired,
  nodeDesiredRef,
  type Section,
} from '../../../functions/node-desired';
import { MemoryStore } from '../../../functions/store/memory';
import {
  isConflictOrExists,
  replaceOrCreate,
  retryOnConflict,
  retryRounds,
  storedAfter,
} from '../../../functions/store/retry';
import type { Obj, ObjectRef, StateStore } from '../../../functions/store/types';
import type { Deployment } from '../../../schemas';
import { startApi, T0 } from '../api/harness';

const conflict = (current?: Obj) => new ConflictError('ConfigMap', 'c', current);

describe('retryOnConflict', () => {
  it('retries from the object the conflict carried, counting attempts from 1', async () => {
    const seen: [Obj | undefined, number][] = [];
    const stored = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', resourceVersion: '7' } };

    const result = await retryOnConflict(async (current, attempt) => {
      seen.push([current, attempt]);
      if (attempt === 1) throw conflict(stored);
      return 'written';
    });

    expect(result).toBe('written');
    expect(seen).toEqual([
      [undefined, 1],
      [stored, 2],
    ]);
  });

  it('gives a pinned write its conflict at once, and retries it once the pin is gone', async () => {
    let pin: string | undefined = '3';
    let calls = 0;
    const write = async () => {
      calls++;
      throw conflict();
    };

    const pinned = await retryOnConflict(write, { pinned: () => pin }).catch((e) => e);
    const callsWhilePinned = calls;
    pin = undefined;
    const unpinned = await retryOnConflict(write, { attempts: 4, pinned: () => pin }).catch((e) => e);

    expect(isConflict(pinned)).toBe(true);
    expect(callsWhilePinned).toBe(1);
    expect(isConflict(unpinned)).toBe(true);
    expect(calls - callsWhilePinned).toBe(4);
  });

  it('does not retry other errors, and takes a bare number as the attempts', async () => {
    let calls = 0;
    const other = await retryOnConflict(async () => {
      calls++;
      throw new Error('disk full');
    }).catch((e) => e);
    let conflicts = 0;
    await retryOnConflict(async () => {
      conflicts++;
      throw conflict();
    }, 2).catch(() => undefined);

    expect((other as Error).message).toBe('disk full');
    expect(calls).toBe(1);
    expect(conflicts).toBe(2);
  });
});

describe('retryOnConflict options', () => {
  it('retries what retryIf takes (a create that lost to AlreadyExists) from no object, and throws the rest at once', async () => {
    const seen: (Obj | undefined)[] = [];
    const created = await retryOnConflict(
      async (current, attempt) => {
        seen.push(current);
        if (attempt === 1) throw new AlreadyExistsError('ConfigMap', 'c');
        return 'created';
      },
      { retryIf: isConflictOrExists },
    );
    let answers = 0;
    const answer = await retryOnConflict(
      async () => {
        answers++;
        throw new ConflictError('Deployment', 'web', undefined, 'deployment "web" is paused');
      },
      { retryIf: (err) => isConflict(err) && !(err as Error).message.includes('paused') },
    ).catch((e) => e);
    const byDefault = await retryOnConflict(async () => {
      throw new AlreadyExistsError('ConfigMap', 'c');
    }).catch((e) => e);

    expect(created).toBe('created');
    expect(seen).toEqual([undefined, undefined]);
    expect((answer as Error).message).toBe('deployment "web" is paused');
    expect(answers).toBe(1);
    expect(isAlreadyExists(byDefault)).toBe(true);
  });

  it('holds the bound and throws what exhausted makes of the last lost race', async () => {
    let calls = 0;
    const last = conflict();

    const err = await retryOnConflict(
      async () => {
        calls++;
        throw last;
      },
      { attempts: 3, exhausted: (e) => new Error(`gave up after ${calls}: ${e === last}`) },
    ).catch((e) => e);

    expect(calls).toBe(3);
    expect((err as Error).message).toBe('gave up after 3: true');
  });

  it('gives a pinned write its 409 as it is, not what exhausted makes of it', async () => {
    let calls = 0;

    const err = await retryOnConflict(
      async () => {
        calls++;
        throw conflict();
      },
      { pinned: () => '3', exhausted: () => new Error('exhausted') },
    ).catch((e) => e);

    expect(isConflict(err)).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('retryRounds and storedAfter', () => {
  it('sends again only what lost its race, as the round rebased it, and returns what is left when the rounds run out', async () => {
    const rounds: string[][] = [];

    const left = await retryRounds(
      ['a', 'b', 'c'],
      async (pending, attempt) => {
        rounds.push(pending);
        return pending.filter((x) => !x.startsWith('a') && !(x.startsWith('b') && attempt === 2)).map((x) => `${x}+`);
      },
      3,
    );
    const none = await retryRounds([], async () => {
      throw new Error('never called');
    });

    expect(rounds).toEqual([['a', 'b', 'c'], ['b+', 'c+'], ['c++']]);
    expect(left).toEqual(['c+++']);
    expect(none).toEqual([]);
  });

  it('takes the conflict’s object when it is the one written, reads otherwise, and finds nothing after NotFound', async () => {
    const store = new MemoryStore(() => T0);
    const cm = (name: string, v: string): Obj => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'ns' },
      data: { v },
    });
    await store.create(cm('c', 'read'));
    const ref = { kind: 'ConfigMap', namespace: 'ns', name: 'c' };
    let reads = 0;
    const counting = {
      get: <T extends Obj>(r: ObjectRef) => {
        reads++;
        return store.get<T>(r);
      },
    };

    const fromConflict = await storedAfter(counting, ref, new ConflictError('ConfigMap', 'c', cm('c', 'carried')));
    const readsAfterConflict = reads;
    const fromOther = await storedAfter(counting, ref, new ConflictError('ConfigMap', 'o', cm('o', 'other')));
    const fromExists = await storedAfter(counting, ref, new AlreadyExistsError('ConfigMap', 'c'));
    const fromGone = await storedAfter(counting, ref, new NotFoundError('ConfigMap', 'c'));

    expect(fromConflict?.data).toEqual({ v: 'carried' });
    expect(readsAfterConflict).toBe(0);
    expect(fromOther?.data).toEqual({ v: 'read' });
    expect(fromExists?.data).toEqual({ v: 'read' });
    expect(fromGone).toBeUndefined();
    expect(reads).toBe(2);
  });
});

describe('replaceOrCreate', () => {
  it('creates a missing object, replaces an existing one, and wins a create race by replacing', async () => {
    const store = new MemoryStore(() => T0);
    const lease = (holder: string): Obj => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'n1', namespace: 'kube-node-lease' },
      spec: { holderIdentity: holder },
    });
    await replaceOrCreate(store, lease('first'));
    await replaceOrCreate(store, lease('second'));
    // A racer creates the Lease between our update (NotFound) and our create.
    const racing = new MemoryStore(() => T0);
    const racer: StateStore = Object.create(racing);
    let raced = false;
    racer.create = async <T extends Obj>(obj: T): Promise<T> => {
      if (!raced) {
        raced = true;
        await racing.create(lease('racer'));
      }
      return racing.create(obj);
    };
    await replaceOrCreate(racer, lease('us'));

    const ref = { kind: 'Lease', namespace: 'kube-node-lease', name: 'n1' };
    expect((await store.get(ref))?.spec).toEqual({ holderIdentity: 'second' });
    expect((await racing.get(ref))?.spec).toEqual({ holderIdentity: 'us' });
  });
});

/**
 * `inner`, except that the first update of `ref` is preceded by another writer's `change`: the
 * update then loses the race. Counts the reads of `ref` and the updates that reach the store.
 */
function racingStore(inner: StateStore, ref: ObjectRef, change: (o: Obj) => Obj) {
  const counts = { reads: 0, updates: 0, raced: false };
  const same = (o: ObjectRef) => o.kind === ref.kind && o.name === ref.name && o.namespace === ref.namespace;
  const store: StateStore = Object.create(inner);
  store.get = async <T extends Obj>(r: ObjectRef) => {
    if (same(r)) counts.reads++;
    return inner.get<T>(r);
  };
  store.update = async <T extends Obj>(obj: T): Promise<T> => {
    if (same({ kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace })) {
      counts.updates++;
      if (!counts.raced) {
        counts.raced = true;
        const now = (await inner.get(ref)) as Obj;
        await inner.update(change(now));
      }
    }
    return inner.update(obj);
  };
  return { store, counts };
}

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
  },
};
const webRef = { kind: 'Deployment', namespace: 'default', name: 'web' };
const labelled = (o: Obj): Obj => ({
  ...o,
  metadata: { ...o.metadata, labels: { ...o.metadata.labels, by: 'other' } },
});

describe('the API write paths on a lost race', () => {
  async function api() {
    const inner = new MemoryStore(() => T0);
    const { store, counts } = racingStore(inner, webRef, labelled);
    const started = await startApi(store);
    expect(
      (await started.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: deployment })).status,
    ).toBe(201);
    counts.reads = 0;
    return { ...started, counts, inner };
  }

  it('an unpinned PATCH is rebased on the conflict’s object and keeps the other writer’s change', async () => {
    const { send, counts, inner } = await api();

    const res = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', {
      body: { metadata: { annotations: { note: 'ours' } } },
      contentType: 'application/merge-patch+json',
    });

    expect(res.status).toBe(200);
    const stored = (await inner.get(webRef)) as Obj;
    expect(stored.metadata.labels).toEqual({ by: 'other' });
    expect(stored.metadata.annotations).toEqual({ note: 'ours' });
    expect(counts.updates).toBe(2);
    // One read for the first attempt; the retry starts from the conflict's `current`.
    expect(counts.reads).toBe(1);
  });

  it('a PUT that pins the resourceVersion it read gets the 409, not a retry over the other write', async () => {
    const { send, counts, inner } = await api();
    const read = (await send('GET', '/apis/apps/v1/namespaces/default/deployments/web')).json as unknown as Obj;

    const res = await send('PUT', '/apis/apps/v1/namespaces/default/deployments/web', {
      body: { ...read, spec: { ...(read.spec as object), replicas: 3 } },
    });

    expect(res.status).toBe(409);
    expect(res.json.reason).toBe('Conflict');
    expect(counts.updates).toBe(1);
    expect(((await inner.get(webRef)) as Obj).spec).toMatchObject({ replicas: 1 });
  });

  it('a scale without a resourceVersion is retried; one that pins a stale one gets the 409', async () => {
    const { send, counts, inner } = await api();

    const unpinned = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale', {
      body: { spec: { replicas: 4 } },
      contentType: 'application/merge-patch+json',
    });
    const updatesUnpinned = counts.updates;
    counts.raced = false;
    const scale = (await send('GET', '/apis/apps/v1/namespaces/default/deployments/web/scale')).json;
    const pinned = await send('PUT', '/apis/apps/v1/namespaces/default/deployments/web/scale', {
      body: { ...scale, spec: { replicas: 9 } },
    });

    expect(unpinned.status).toBe(200);
    expect(updatesUnpinned).toBe(2);
    expect(pinned.status).toBe(409);
    expect(counts.updates - updatesUnpinned).toBe(1);
    expect(((await inner.get(webRef)) as Obj).spec).toMatchObject({ replicas: 4 });
  });

  it('a node re-registering while its status is written is rebased on the Node the conflict carries', async () => {
    const inner = new MemoryStore(() => T0);
    const nodeRef = { kind: 'Node', name: 'n1' };
    const { deps } = await startApi(inner);
    const status = {
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
    };
    const admin = { role: 'admin', name: 'admin' } as never;
    await registerNode(deps, admin, { nodeName: 'n1', status } as never);
    const { store, counts } = racingStore(inner, nodeRef, labelled);

    await registerNode({ ...deps, store }, admin, { nodeName: 'n1', status } as never);

    expect(counts.updates).toBe(2);
    expect(((await inner.get(nodeRef)) as Obj).metadata.labels).toMatchObject({ by: 'other' });
  });
});

describe('the writers that spelled their own retry loop, on a lost race', () => {
  const template = (image: string) => ({
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image }] },
  });
  /** A Deployment at revision 2 (image v2) with the ReplicaSets of revisions 1 and 2. */
  async function twoRevisions(paused = false) {
    const inner = new MemoryStore(() => T0);
    const d = await inner.create<Obj>({
      ...deployment,
      spec: { ...deployment.spec, paused, template: template('v2') },
    });
    for (const revision of [1, 2])
      await inner.create({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `web-${revision}`,
          namespace: 'default',
          annotations: { 'deployment.kubernetes.io/revision': String(revision) },
          ownerReferences: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid as string, controller: true },
          ],
        },
        spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: template(`v${revision}`) },
      });
    return { inner, ...racingStore(inner, webRef, labelled) };
  }

  it('a rollback is retried from the Deployment the conflict carried, keeping the other writer’s change', async () => {
    const { inner, store, counts } = await twoRevisions();

    const outcome = await rollbackDeployment(store, { namespace: 'default', name: 'web' });

    const stored = (await inner.get<Deployment>(webRef)) as Deployment;
    expect(outcome).toMatchObject({ revision: 1, unchanged: false });
    expect(stored.spec.template.spec.containers[0]?.image).toBe('v1');
    expect(stored.metadata.labels).toEqual({ by: 'other' });
    expect(counts.updates).toBe(2);
    expect(counts.reads).toBe(1);
  });

  it('a paused Deployment’s 409 is the answer, not a lost race: no second read', async () => {
    const { store, counts } = await twoRevisions(true);

    const err = await rollbackDeployment(store, { namespace: 'default', name: 'web' }).catch((e) => e);

    expect(isConflict(err)).toBe(true);
    expect((err as Error).message).toMatch(/is paused: resume it first/);
    expect(counts.reads).toBe(1);
    expect(counts.updates).toBe(0);
  });

  it('a NodeDesired bump is retried from the record the conflict carried, keeping the other bump', async () => {
    const inner = new MemoryStore(() => T0);
    await createNodeDesired(inner, () => T0, 'node-1');
    const before = (await inner.get<NodeDesired>(nodeDesiredRef('node-1'))) as NodeDesired;
    const { store, counts } = racingStore(inner, nodeDesiredRef('node-1'), (o) => ({
      ...o,
      spec: { ...(o.spec as object), config: 'theirs' },
    }));

    await bumpNodes(store, () => T0, new Map([['node-1', new Set<Section>(['pods'])]]));

    const after = (await inner.get<NodeDesired>(nodeDesiredRef('node-1'))) as NodeDesired;
    expect(after.spec.config).toBe('theirs');
    expect(after.spec.pods).not.toBe(before.spec.pods);
    expect(counts.updates).toBe(2);
    expect(counts.reads).toBe(1);
  });
});
