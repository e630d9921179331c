/**
 * A ConfigMap or Secret write moves the `config` version of exactly the nodes whose pods refer to
 * it (functions/node-desired.ts), on SQLite too, where the pods are looked for with the store's
 * `containing` hint instead of parsing every pod of the namespace.
 */
import { describe, expect, it } from 'vitest';
import { NODE_DESIRED_KIND, type NodeDesired, trackNodeDesired } from '../../functions/node-desired';
import { MemoryStore } from '../../functions/store/memory';
import { SqliteStore } from '../../functions/store/sqlite';
import type { Obj, StateStore } from '../../functions/store/types';

const pod = (name: string, node: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox', ...spec }] },
});

async function configVersions(store: StateStore): Promise<Record<string, string>> {
  const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
  return Object.fromEntries(records.map((r) => [r.metadata.name, r.spec.config]));
}

for (const [backend, open] of [
  ['SQLite', () => SqliteStore.open(':memory:')],
  ['memory', async () => new MemoryStore()],
] as const) {
  describe(`config bumps on ${backend}`, () => {
    it('move the nodes whose pods refer to the written ConfigMap, by env, envFrom or volume, and no others', async () => {
      const store = trackNodeDesired(await open(), Date.now);
      await store.create(pod('a', 'n1', { envFrom: [{ configMapRef: { name: 'app-1' } }] }));
      await store.create(pod('b', 'n2', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app-1' } } }] }));
      // Names that contain the written one are other ConfigMaps.
      await store.create(pod('c', 'n3', { envFrom: [{ configMapRef: { name: 'app-10' } }] }));
      await store.create(pod('d', 'n4', { image: 'app-1' }));
      await store.create({
        ...pod('e', 'n5', {}),
        spec: {
          nodeName: 'n5',
          containers: [{ name: 'c', image: 'x' }],
          volumes: [{ name: 'v', configMap: { name: 'app-1' } }],
        },
      });
      const before = await configVersions(store);

      await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-1', namespace: 'default' } });

      const after = await configVersions(store);
      const moved = Object.keys(after).filter((n) => after[n] !== before[n]);
      expect(moved.sort()).toEqual(['n1', 'n2', 'n5']);
      await store.close();
    });
  });
}
