/**
 * End-to-end on real Docker: a StatefulSet with a claim template on a two-node local cluster, made
 * through the API (validation, defaults, the default local-path class). Its pod writes to its volume;
 * deleted, it comes back with its name on the same node and reads what it wrote; a scale down
 * through the `scale` subresource keeps the removed pod's claim, and the scale up that follows
 * mounts the same data again. The volume's directory is under the node's state dir, behind a
 * 0700 parent.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { deletePod } from '../../functions/pod-deletion';
import type { PersistentVolumeClaim, Pod } from '../../schemas';
import { appContainers, docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const BUSYBOX = 'ferry.local/busybox:1';
const STS = '/apis/apps/v1/namespaces/default/statefulsets';

const statefulSet = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'db', namespace: 'default' },
  spec: {
    replicas: 1,
    serviceName: 'db',
    selector: { matchLabels: { app: 'db' } },
    template: {
      metadata: { labels: { app: 'db' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'db',
            image: BUSYBOX,
            // Each start appends its hostname: a restart on the same volume shows two lines.
            command: ['sh', '-c', 'hostname >> /data/log; exec sleep 3600'],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        ],
      },
    },
    volumeClaimTemplates: [
      {
        metadata: { name: 'data' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } },
      },
    ],
  },
};

describeDocker('e2e: a StatefulSet keeps its names and its data on real Docker', () => {
  const c = useCluster(2, { setupMs: 300_000 });
  const get = async (name: string) => (await c.pods(name)).find((p) => p.metadata.name === name) as Pod | undefined;
  const readyOne = async (name: string, notUid?: string) => {
    const p = (await c.readyPods(name)).find((x) => x.metadata.name === name);
    return p !== undefined && p.metadata.uid !== notUid && appContainers(p).length > 0;
  };
  const read = async (name: string, file: string) => {
    const p = (await get(name)) as Pod;
    return docker('exec', appContainers(p)[0] as string, 'cat', file);
  };
  const scale = (replicas: number) => c.patch(`${STS}/db/scale`, { spec: { replicas } });

  it('brings a deleted pod back with its name, on its node, with its data', async () => {
    // prepare
    await c.post(STS, statefulSet);
    await c.waitFor(() => readyOne('db-0'), 60_000, 'db-0 ready');
    const first = (await get('db-0')) as Pod;
    expect(await read('db-0', '/data/log')).toBe('db-0');
    const claim = await c.store.get<PersistentVolumeClaim>({
      kind: 'PersistentVolumeClaim',
      namespace: 'default',
      name: 'data-db-0',
    });
    expect(claim?.status?.phase).toBe('Bound');
    const dir = join(
      c.dataDir,
      'nodes',
      first.spec.nodeName as string,
      'state',
      'volumes',
      claim?.spec.volumeName as string,
    );

    // act
    // The API's graceful deletion, as `kubectl delete pod db-0` asks for it.
    await deletePod(c.plane.deps, { kind: 'Pod', namespace: 'default', name: 'db-0' });
    await c.waitFor(() => readyOne('db-0', first.metadata.uid), 60_000, 'db-0 back');

    // assess
    const again = (await get('db-0')) as Pod;
    expect(again.spec.nodeName).toBe(first.spec.nodeName);
    expect(again.spec.hostname).toBe('db-0');
    expect((await read('db-0', '/data/log')).split('\n')).toEqual(['db-0', 'db-0']);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('db-0\ndb-0\n');
    expect(statSync(join(dir, '..')).mode & 0o777).toBe(0o700);
  }, 180_000);

  it('keeps the claim of a removed pod on scale down and mounts it again on scale up', async () => {
    // prepare
    await scale(2);
    await c.waitFor(() => readyOne('db-1'), 60_000, 'db-1 ready');
    expect(await read('db-1', '/data/log')).toBe('db-1');

    // act
    await scale(1);
    await c.waitFor(async () => (await get('db-1')) === undefined, 60_000, 'db-1 gone');
    const kept = await c.store.get<PersistentVolumeClaim>({
      kind: 'PersistentVolumeClaim',
      namespace: 'default',
      name: 'data-db-1',
    });
    await scale(2);
    await c.waitFor(() => readyOne('db-1'), 60_000, 'db-1 back');

    // assess
    expect(kept?.status?.phase).toBe('Bound');
    expect((await read('db-1', '/data/log')).split('\n')).toEqual(['db-1', 'db-1']);
    expect((await read('db-0', '/data/log')).split('\n')).toEqual(['db-0', 'db-0']);
  }, 180_000);
});
