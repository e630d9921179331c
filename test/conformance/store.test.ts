import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, BadRequestError, ConflictError, FerryError, NotFoundError } from '../../functions/errors';
import type { ChangeEvent, Obj, StateStore } from '../../functions/store/types';
import { backends, closeBackends } from './backends';

afterAll(closeBackends);

const pod = (
  name: string,
  extra: Partial<Obj> & { labels?: Record<string, string>; namespace?: string; nodeName?: string } = {},
): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: extra.namespace ?? 'default', ...(extra.labels ? { labels: extra.labels } : {}) },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
});

for (const backend of backends) {
  const skipped = backend.unavailable ? ` (skipped: ${backend.unavailable})` : '';
  describe.skipIf(!!backend.unavailable)(`StateStore conformance: ${backend.name}${skipped}`, () => {
    let store: StateStore;
    let now = 1_700_000_000_000;
    beforeEach(async () => {
      now = 1_700_000_000_000;
      store = await backend.open(() => now);
    });
    afterEach(async () => {
      await store.close();
    });

    it('create sets uid, resourceVersion, creationTimestamp and generation 1', async () => {
      const created = await store.create(pod('a'));
      expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.metadata.resourceVersion).toBeTruthy();
      expect(created.metadata.creationTimestamp).toBe('2023-11-14T22:13:20Z');
      expect(created.metadata.generation).toBe(1);
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'a' })).toEqual(created);
    });

    it('create of an existing object fails with AlreadyExists and changes nothing', async () => {
      const first = await store.create(pod('a'));
      await expect(store.create(pod('a', { labels: { x: 'y' } }))).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'a' })).toEqual(first);
    });

    it('get of a missing object is undefined; update and delete of it are NotFound', async () => {
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'nope' })).toBeUndefined();
      await expect(store.update(pod('nope'))).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.delete({ kind: 'Pod', namespace: 'default', name: 'nope' })).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('an update with a stale resourceVersion fails with Conflict carrying the stored object', async () => {
      const created = await store.create(pod('a'));
      const winner = await store.update({ ...created, metadata: { ...created.metadata, labels: { v: '1' } } });
      const err = await store
        .update({ ...created, metadata: { ...created.metadata, labels: { v: '2' } } })
        .catch((e) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).current).toEqual(winner);
    });

    it('two concurrent updates from the same resourceVersion: exactly one wins, the other is a Conflict', async () => {
      const created = await store.create(pod('a'));
      const outcomes = await Promise.allSettled(
        ['1', '2', '3'].map((v) => store.update({ ...created, metadata: { ...created.metadata, labels: { v } } })),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
      const stored = await store.get({ kind: 'Pod', namespace: 'default', name: 'a' });
      expect(stored).toEqual((won[0] as PromiseFulfilledResult<Obj>).value);
    });

    it('an update without resourceVersion is unconditional', async () => {
      const created = await store.create(pod('a'));
      const { resourceVersion: _rv, ...meta } = created.metadata;
      const updated: Obj = await store.update({ ...created, metadata: { ...meta, labels: { x: '1' } } });
      expect(updated.metadata.labels).toEqual({ x: '1' });
      expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(
        Number(created.metadata.resourceVersion as string),
      );
    });

    it('generation is bumped by spec changes only, never by status or metadata', async () => {
      const created = await store.create(pod('a'));
      const labelled = await store.update({ ...created, metadata: { ...created.metadata, labels: { a: 'b' } } });
      expect(labelled.metadata.generation).toBe(1);
      const withStatus = await store.update({ ...labelled, status: { phase: 'Running' } });
      expect(withStatus.metadata.generation).toBe(1);
      const respec = await store.update({ ...withStatus, spec: { containers: [{ name: 'c', image: 'other' }] } });
      expect(respec.metadata.generation).toBe(2);
    });

    it('uid and creationTimestamp cannot be changed by an update', async () => {
      const created = await store.create(pod('a'));
      now += 60_000;
      const updated = await store.update({
        ...created,
        metadata: { ...created.metadata, uid: 'forged', creationTimestamp: '2000-01-01T00:00:00Z' },
      });
      expect(updated.metadata.uid).toBe(created.metadata.uid);
      expect(updated.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
    });

    it('delete returns the object, honours a resourceVersion precondition and removes it', async () => {
      const created = await store.create(pod('a'));
      await expect(
        store.delete({ kind: 'Pod', namespace: 'default', name: 'a' }, { resourceVersion: '999999' }),
      ).rejects.toBeInstanceOf(ConflictError);
      const gone = await store.delete(
        { kind: 'Pod', namespace: 'default', name: 'a' },
        { resourceVersion: created.metadata.resourceVersion as string },
      );
      expect(gone.metadata.uid).toBe(created.metadata.uid);
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'a' })).toBeUndefined();
    });

    it('lists by kind and namespace, sorted by namespace then name, with the store revision', async () => {
      await store.create(pod('b', { namespace: 'x' }));
      await store.create(pod('a', { namespace: 'y' }));
      await store.create(pod('c', { namespace: 'x' }));
      await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'x' } });
      const all = await store.list('Pod');
      expect(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(['x/b', 'x/c', 'y/a']);
      const inX = await store.list('Pod', { namespace: 'x' });
      expect(inX.items.map((p) => p.metadata.name)).toEqual(['b', 'c']);
      const last = await store.create(pod('d', { namespace: 'z' }));
      expect((await store.list('Pod')).resourceVersion).toBe(last.metadata.resourceVersion);
    });

    it('lists by equality-based and set-based label selectors', async () => {
      await store.create(pod('web-1', { labels: { app: 'web', tier: 'front' } }));
      await store.create(pod('web-2', { labels: { app: 'web', tier: 'back' } }));
      await store.create(pod('db', { labels: { app: 'db' } }));
      await store.create(pod('plain'));
      const names = async (sel: string) =>
        (await store.list('Pod', { labelSelector: sel })).items.map((p) => p.metadata.name);
      expect(await names('app=web')).toEqual(['web-1', 'web-2']);
      expect(await names('app==web,tier!=back')).toEqual(['web-1']);
      expect(await names('app in (web,db)')).toEqual(['db', 'web-1', 'web-2']);
      expect(await names('app notin (web)')).toEqual(['db', 'plain']);
      expect(await names('tier')).toEqual(['web-1', 'web-2']);
      expect(await names('!tier')).toEqual(['db', 'plain']);
    });

    it('a malformed label selector is a BadRequest', async () => {
      await expect(store.list('Pod', { labelSelector: 'app in web' })).rejects.toBeInstanceOf(BadRequestError);
      await expect(store.list('Pod', { labelSelector: '=x' })).rejects.toBeInstanceOf(BadRequestError);
    });

    it('lists pods by spec.nodeName, following binds and unbinds', async () => {
      const a = await store.create(pod('a', { nodeName: 'n1' }));
      await store.create(pod('b', { nodeName: 'n2' }));
      await store.create(pod('c'));
      expect((await store.list('Pod', { nodeName: 'n1' })).items.map((p) => p.metadata.name)).toEqual(['a']);
      await store.update({ ...a, spec: { ...(a.spec as object), nodeName: 'n2' } });
      expect((await store.list('Pod', { nodeName: 'n1' })).items).toEqual([]);
      expect((await store.list('Pod', { nodeName: 'n2' })).items.map((p) => p.metadata.name)).toEqual(['a', 'b']);
    });

    it('a list of pods referring to a ConfigMap returns every pod that does, through binds, edits and deletes', async () => {
      const uses = (name: string, cm: string, namespace = 'default') => ({
        ...pod(name, { namespace }),
        spec: { containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: cm } }] }] },
      });
      const a = await store.create(uses('a', 'app-config'));
      await store.create(uses('b', 'other'));
      await store.create(uses('c', 'app-config', 'kube-system'));
      const d = await store.create({
        ...pod('d'),
        spec: { containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'v', configMap: { name: 'app-config' } }] },
      });
      // A hint: every pod that refers to it comes back (SQLite: only those, test/unit/store).
      const names = async () =>
        (await store.list('Pod', { namespace: 'default', referringTo: 'ConfigMap/default/app-config' })).items.map(
          (p) => p.metadata.name,
        );
      expect(await names()).toEqual(expect.arrayContaining(['a', 'd']));
      expect(await names()).not.toContain('c');
      await store.update({ ...a, spec: { ...(a.spec as object), nodeName: 'n1' } });
      await store.update({ ...d, spec: { containers: [{ name: 'c', image: 'x' }] } });
      const e = await store.create(uses('e', 'app-config'));
      expect(await names()).toEqual(expect.arrayContaining(['a', 'e']));
      await store.delete({ kind: 'Pod', namespace: 'default', name: e.metadata.name });
      expect(await names()).not.toContain('e');
    });

    it('returns copies: mutating a returned object changes nothing stored', async () => {
      const created = await store.create(pod('a'));
      created.metadata.labels = { mutated: 'yes' };
      const listed = (await store.list('Pod')).items[0] as Obj;
      listed.metadata.name = 'changed';
      const fresh = await store.get({ kind: 'Pod', namespace: 'default', name: 'a' });
      expect(fresh?.metadata.labels).toBeUndefined();
    });

    it('watch delivers ADDED, MODIFIED and DELETED after each commit, until unsubscribed', async () => {
      const events: ChangeEvent[] = [];
      const stop = store.watch((e) => events.push(e));
      const created = await store.create(pod('a'));
      await store.update({ ...created, status: { phase: 'Running' } });
      await store.delete({ kind: 'Pod', namespace: 'default', name: 'a' });
      await new Promise((r) => setTimeout(r, 10));
      stop();
      await store.create(pod('b'));
      await new Promise((r) => setTimeout(r, 10));
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a']);
    });

    it('writeBatch: each op succeeds or fails on its own, results in op order, nothing else changes', async () => {
      const a = await store.create(pod('a'));
      const b = await store.create(pod('b'));
      const bNow = await store.update({ ...b, metadata: { ...b.metadata, labels: { v: '1' } } });
      const results = await store.writeBatch([
        { op: 'create', object: pod('new') },
        { op: 'create', object: pod('a') },
        { op: 'update', object: { ...a, spec: { ...(a.spec as object), nodeName: 'n1' } } },
        { op: 'update', object: { ...b, metadata: { ...b.metadata, labels: { v: 'stale' } } } },
        { op: 'update', object: pod('missing') },
      ]);
      expect(results.map((r) => (r.ok ? 'ok' : r.error.constructor.name))).toEqual([
        'ok',
        'AlreadyExistsError',
        'ok',
        'ConflictError',
        'NotFoundError',
      ]);
      const [created, , bound] = results;
      expect(created?.ok && created.object.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(bound?.ok && Number(bound.object.metadata.resourceVersion)).toBeGreaterThan(
        Number(created?.ok && created.object.metadata.resourceVersion),
      );
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'b' })).toEqual(bNow);
      expect(await store.get({ kind: 'Pod', namespace: 'default', name: 'missing' })).toBeUndefined();
      expect((await store.list('Pod', { nodeName: 'n1' })).items.map((p) => p.metadata.name)).toEqual(['a']);
      expect(await store.writeBatch([])).toEqual([]);
    });

    it('writeBatch: watchers see one event per successful op; results are copies', async () => {
      const events: ChangeEvent[] = [];
      const stop = store.watch((e) => events.push(e));
      const a = await store.create(pod('a'));
      const results = await store.writeBatch([
        { op: 'update', object: { ...a, status: { phase: 'Running' } } },
        { op: 'create', object: pod('a') },
        { op: 'create', object: pod('b') },
      ]);
      await new Promise((r) => setTimeout(r, 10));
      stop();
      // The ops of a batch may land in any order (DynamoDB writes them in parallel).
      expect(events[0] && `${events[0].type} ${events[0].object.metadata.name}`).toBe('ADDED a');
      expect(
        events
          .slice(1)
          .map((e) => `${e.type} ${e.object.metadata.name}`)
          .sort(),
      ).toEqual(['ADDED b', 'MODIFIED a']);
      const first = results[0];
      if (!first?.ok) throw new Error('the update should have landed');
      first.object.metadata.labels = { mutated: 'yes' };
      expect((await store.get({ kind: 'Pod', namespace: 'default', name: 'a' }))?.metadata.labels).toBeUndefined();
      expect(events.every((e) => e.object.metadata.labels === undefined)).toBe(true);
    });

    it('a "__proto__" key is stored as plain data and never becomes a prototype', async () => {
      const hostile = JSON.parse('{"__proto__": {"polluted": "yes"}, "k": "v"}') as Record<string, unknown>;
      await store.create({ ...pod('a'), data: hostile });
      const got = (await store.get({ kind: 'Pod', namespace: 'default', name: 'a' })) as Obj & {
        data: Record<string, unknown>;
      };
      expect(Object.getPrototypeOf(got.data)).toBe(Object.prototype);
      expect((got.data as { polluted?: string }).polluted).toBeUndefined();
      expect(Object.keys(got.data).sort()).toEqual(['__proto__', 'k']);
      expect(({} as { polluted?: string }).polluted).toBeUndefined();
    });

    it('resourceVersions increase with every write', async () => {
      const a = await store.create(pod('a'));
      const b = await store.create(pod('b'));
      const a2 = await store.update(a);
      expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
      expect(Number(a2.metadata.resourceVersion)).toBeGreaterThan(Number(b.metadata.resourceVersion));
    });

    it('lists every object of a kind spread over many keys, by namespace and across namespaces', async () => {
      const names: string[] = [];
      for (let i = 0; i < 30; i++) {
        const ns = `ns-${i % 3}`;
        await store.create(pod(`p-${String(i).padStart(2, '0')}`, { namespace: ns }));
        names.push(`${ns}/p-${String(i).padStart(2, '0')}`);
      }
      const all = await store.list('Pod');
      expect(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(names.sort());
      const one = await store.list('Pod', { namespace: 'ns-1' });
      expect(one.items.map((p) => p.metadata.name)).toEqual(
        names.filter((n) => n.startsWith('ns-1/')).map((n) => n.slice(5)),
      );
    });

    describe.skipIf(!!backend.noTransact)(
      `transact${backend.noTransact ? ` (skipped: ${backend.noTransact})` : ''}`,
      () => {
        const ref = (name: string) => ({ kind: 'Pod', namespace: 'default', name });

        it('commits creates, updates and deletes together and returns the results in op order', async () => {
          const a = await store.create(pod('a'));
          const b = await store.create(pod('b'));
          const results = await store.transact([
            { op: 'create', object: pod('c') },
            { op: 'update', object: { ...a, metadata: { ...a.metadata, labels: { v: '2' } } } },
            { op: 'delete', ref: ref('b'), resourceVersion: b.metadata.resourceVersion as string },
          ]);
          expect(results.map((o) => o.metadata.name)).toEqual(['c', 'a', 'b']);
          expect(results[0]?.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
          expect(results[1]?.metadata.labels).toEqual({ v: '2' });
          expect(Number(results[1]?.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
          expect(results[2]?.metadata.uid).toBe(b.metadata.uid);
          expect(await store.get(ref('c'))).toEqual(results[0]);
          expect(await store.get(ref('a'))).toEqual(results[1]);
          expect(await store.get(ref('b'))).toBeUndefined();
        });

        it('one failing op writes nothing and throws the error that op alone would', async () => {
          const a = await store.create(pod('a'));
          const b = await store.create(pod('b'));
          const bNow = await store.update({ ...b, metadata: { ...b.metadata, labels: { v: '1' } } });
          const before = (await store.list('Pod')).items;
          const attempt = (last: Parameters<StateStore['transact']>[0][number]) =>
            store
              .transact([
                { op: 'create', object: pod('new') },
                { op: 'update', object: { ...a, metadata: { ...a.metadata, labels: { v: 'x' } } } },
                last,
              ])
              .catch((e) => e);

          const exists = await attempt({ op: 'create', object: pod('b') });
          const stale = await attempt({
            op: 'update',
            object: { ...b, metadata: { ...b.metadata, labels: { v: 's' } } },
          });
          const missing = await attempt({ op: 'delete', ref: ref('missing') });
          const staleDelete = await attempt({
            op: 'delete',
            ref: ref('b'),
            resourceVersion: b.metadata.resourceVersion as string,
          });

          expect(exists).toBeInstanceOf(AlreadyExistsError);
          expect(stale).toBeInstanceOf(ConflictError);
          expect((stale as ConflictError).current).toEqual(bNow);
          expect(missing).toBeInstanceOf(NotFoundError);
          expect(staleDelete).toBeInstanceOf(ConflictError);
          expect((await store.list('Pod')).items).toEqual(before);
        });

        it('an object named twice is a BadRequest and nothing is written', async () => {
          const err = await store
            .transact([
              { op: 'create', object: pod('a') },
              { op: 'create', object: pod('a', { labels: { x: 'y' } }) },
            ])
            .catch((e) => e);
          expect(err).toBeInstanceOf(BadRequestError);
          expect(await store.get(ref('a'))).toBeUndefined();
        });

        it('an update without resourceVersion writes over what is stored; an empty transaction is a no-op', async () => {
          const a = await store.create(pod('a'));
          await store.update({ ...a, metadata: { ...a.metadata, labels: { by: 'someone-else' } } });
          const { resourceVersion: _rv, ...meta } = a.metadata;
          const [written] = await store.transact([
            { op: 'update', object: { ...a, metadata: { ...meta, labels: { by: 'tx' } } } },
          ]);
          expect(written?.metadata.labels).toEqual({ by: 'tx' });
          expect(written?.metadata.uid).toBe(a.metadata.uid);
          expect(await store.transact([])).toEqual([]);
        });

        it('watchers see one event per op after a commit and none for a failed transaction', async () => {
          const a = await store.create(pod('a'));
          const events: ChangeEvent[] = [];
          const stop = store.watch((e) => events.push(e));
          await store.transact([
            { op: 'create', object: pod('b') },
            { op: 'delete', ref: ref('a') },
          ]);
          await store
            .transact([
              { op: 'create', object: pod('c') },
              { op: 'create', object: pod('b') },
            ])
            .catch(() => {});
          await new Promise((r) => setTimeout(r, 10));
          stop();
          expect(events.map((e) => `${e.type} ${e.object.metadata.name}`).sort()).toEqual(['ADDED b', 'DELETED a']);
          expect(events.find((e) => e.type === 'DELETED')?.object.metadata.uid).toBe(a.metadata.uid);
        });

        it('many objects commit together (a 60-object bundle with its claims)', async () => {
          const ops = Array.from({ length: 60 }, (_, i) => ({ op: 'create' as const, object: pod(`bulk-${i}`) }));
          const results = await store.transact(ops);
          expect(results).toHaveLength(60);
          expect((await store.list('Pod')).items).toHaveLength(60);
        });
      },
    );

    // DynamoDB's TransactWriteItems takes at most 100 actions: more is refused before any write.
    if (backend.name.startsWith('dynamodb')) {
      it("a transaction over DynamoDB's 100-op limit is a 413 naming the limit and writes nothing", async () => {
        const ops = Array.from({ length: 101 }, (_, i) => ({ op: 'create' as const, object: pod(`over-${i}`) }));
        const err = await store.transact(ops).catch((e) => e);
        expect(err).toBeInstanceOf(FerryError);
        expect((err as FerryError).status).toBe(413);
        expect((err as FerryError).message).toContain('100');
        expect((await store.list('Pod')).items).toEqual([]);
      });
    }

    it('a lease is held by one holder until it expires or is released, and renews for its holder', async () => {
      expect(await store.acquireLease('cm', 'one', 10_000)).toBe(true);
      expect(await store.acquireLease('cm', 'two', 10_000)).toBe(false);
      now += 9_000;
      expect(await store.acquireLease('cm', 'one', 10_000)).toBe(true);
      now += 9_000;
      expect(await store.acquireLease('cm', 'two', 10_000)).toBe(false);
      now += 2_000;
      expect(await store.acquireLease('cm', 'two', 10_000)).toBe(true);
      await store.releaseLease('cm', 'one');
      expect(await store.acquireLease('cm', 'one', 10_000)).toBe(false);
      await store.releaseLease('cm', 'two');
      expect(await store.acquireLease('cm', 'one', 10_000)).toBe(true);
    });
  });
}
