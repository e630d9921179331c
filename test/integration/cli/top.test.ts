/**
 * `ferry top pods|nodes` against a control plane whose node answers usage the way the agent does
 * once asked (its NodeDesired record's `usageUntil`): kubectl top's columns and units.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeDesired, nodeDesiredRef } from '../../../functions/node-desired';
import { storeUsage, usageRecord } from '../../../functions/node-usage';
import type { Pod } from '../../../schemas';
import { makeNode } from '../../helpers/objects';
import { startTestPlane, type TestPlane } from './harness';

describe('ferry top', () => {
  let t: TestPlane;
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    t = await startTestPlane();
    const { store } = t.plane;
    await store.create(makeNode('n1', { cpu: '2', memory: '4Gi' }));
    await store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodeDesired',
      metadata: { name: 'n1' },
      spec: { pods: 'a', config: 'a', logs: 'a', routes: '', changedAt: 0 },
    });
    for (const name of ['web-1', 'web-2'])
      await store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', labels: { app: 'web' } },
        spec: {
          nodeName: 'n1',
          containers: [
            { name: 'app', image: 'x' },
            { name: 'side', image: 'x' },
          ],
        },
        status: { phase: 'Running' },
      });
    timer = setInterval(async () => {
      const desired = await store.get<NodeDesired>(nodeDesiredRef('n1'));
      if ((desired?.spec.usageUntil ?? 0) <= Date.now()) return;
      const pods = (await store.list<Pod>('Pod', { nodeName: 'n1' })).items;
      const report = {
        ageMs: 0,
        windowMs: 15_000,
        node: { cpuNanoCores: 5e8, memoryBytes: 2 ** 30 },
        pods: pods.map((p) => ({
          pod: { namespace: 'default', name: p.metadata.name, uid: p.metadata.uid as string },
          containers: [
            { name: 'app', cpuNanoCores: 1.25e8, memoryBytes: 48 * 2 ** 20 },
            { name: 'side', cpuNanoCores: 1e6, memoryBytes: 2 * 2 ** 20 },
          ],
        })),
      };
      await storeUsage(store, usageRecord('n1', report, Date.now()));
    }, 100);
  });

  afterAll(async () => {
    clearInterval(timer);
    await t.close();
  });

  it("prints each pod's CPU in millicores and memory in Mi, containers summed", async () => {
    const r = await t.ferry(['top', 'pods', '-l', 'app=web']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      'NAME    CPU(cores)   MEMORY(bytes)',
      'web-1   126m         50Mi',
      'web-2   126m         50Mi',
    ]);
  });

  it('prints one line per container with --containers', async () => {
    const r = await t.ferry(['top', 'pod', '--containers']);
    expect(r.stdout).toContain('web-1   side        1m           2Mi');
  });

  it("prints a node's use and its share of allocatable", async () => {
    const r = await t.ferry(['top', 'nodes']);
    expect(r.stdout.trim().split('\n')).toEqual([
      'NAME   CPU(cores)   CPU%   MEMORY(bytes)   MEMORY%',
      'n1     500m         25%    1024Mi          25%',
    ]);
  });
});
