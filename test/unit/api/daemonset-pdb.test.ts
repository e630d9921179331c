/** DaemonSets and PodDisruptionBudgets through the API: served, discoverable, defaulted, validated, printed. */
import { beforeEach, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness';

const DS = '/apis/apps/v1/namespaces/default/daemonsets';
const PDB = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';

function daemonSet(name = 'agent', extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      },
      ...extra,
    },
  };
}

function pdb(spec: Record<string, unknown>) {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec };
}

describe('DaemonSets and PodDisruptionBudgets through the API', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('creates a DaemonSet with Kubernetes defaults (RollingUpdate, maxUnavailable 1, maxSurge 0)', async () => {
    // act
    const created = await api.send('POST', DS, { body: daemonSet() });

    // assess
    expect(created.status).toBe(201);
    expect(created.json.spec).toMatchObject({
      revisionHistoryLimit: 10,
      minReadySeconds: 0,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
    });
  });

  it('lists daemonsets, poddisruptionbudgets and pods/eviction (policy/v1) in discovery, as kubectl drain needs', async () => {
    // act
    const apps = await api.send('GET', '/apis/apps/v1');
    const policy = await api.send('GET', '/apis/policy/v1');
    const core = await api.send('GET', '/api/v1');
    const groups = await api.send('GET', '/apis');

    // assess
    const names = (r: { json: Record<string, unknown> }) => (r.json.resources as { name: string }[]).map((x) => x.name);
    expect(names(apps)).toContain('daemonsets');
    expect(names(policy)).toContain('poddisruptionbudgets');
    const eviction = (core.json.resources as Record<string, unknown>[]).find((r) => r.name === 'pods/eviction');
    expect(eviction).toMatchObject({ group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    expect((groups.json.groups as { name: string }[]).map((g) => g.name)).toContain('policy');
  });

  it.each([
    [
      { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } } },
      'spec.updateStrategy.rollingUpdate.maxUnavailable',
    ],
    [
      { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '150%' } } },
      'spec.updateStrategy.rollingUpdate.maxUnavailable',
    ],
    [
      { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'lots' } } },
      'spec.updateStrategy.rollingUpdate.maxSurge',
    ],
    [{ updateStrategy: { type: 'OnDelete', rollingUpdate: { maxSurge: 1 } } }, 'spec.updateStrategy.rollingUpdate'],
    [{ updateStrategy: { type: 'Sometimes' } }, 'spec.updateStrategy.type'],
    [{ minReadySeconds: -1 }, 'spec.minReadySeconds'],
    [{ selector: { matchLabels: { app: 'other' } } }, 'spec.template.metadata.labels'],
    [{ selector: {} }, 'spec.selector'],
  ])('refuses a DaemonSet with %j, naming %s, and stores nothing', async (extra, field) => {
    // act
    const res = await api.send('POST', DS, { body: daemonSet('agent', extra) });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain(field);
    expect((await api.send('GET', `${DS}/agent`)).status).toBe(404);
  });

  it('refuses a DaemonSet whose pods would not restart Always', async () => {
    // prepare
    const ds = daemonSet();
    (ds.spec.template.spec as Record<string, unknown>).restartPolicy = 'Never';

    // act
    const res = await api.send('POST', DS, { body: ds });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('spec.template.spec.restartPolicy');
  });

  it('keeps a DaemonSet selector immutable', async () => {
    // prepare
    await api.send('POST', DS, { body: daemonSet() });

    // act
    const res = await api.send('PATCH', `${DS}/agent`, {
      body: {
        spec: {
          selector: { matchLabels: { app: 'agent', tier: 'x' } },
          template: { metadata: { labels: { app: 'agent', tier: 'x' } } },
        },
      },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain('spec.selector');
  });

  it.each([
    [{ minAvailable: 1, maxUnavailable: 1 }, 'spec'],
    [{ minAvailable: -1 }, 'spec.minAvailable'],
    [{ maxUnavailable: '101%' }, 'spec.maxUnavailable'],
    [{ minAvailable: 'half' }, 'spec.minAvailable'],
    [{ minAvailable: 1, unhealthyPodEvictionPolicy: 'Never' }, 'spec.unhealthyPodEvictionPolicy'],
    [
      { minAvailable: 1, selector: { matchExpressions: [{ key: 'app', operator: 'Near' }] } },
      'spec.selector.matchExpressions[0].operator',
    ],
    [{ minAvailable: 1, surprise: true }, 'spec.surprise'],
  ])('refuses a PodDisruptionBudget with %j, naming %s', async (spec, field) => {
    // act
    const res = await api.send('POST', PDB, { body: pdb(spec) });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain(field);
  });

  it("prints kubectl's columns for both kinds", async () => {
    // prepare
    await api.send('POST', DS, {
      body: daemonSet('agent', {}),
    });
    await api.send('POST', PDB, { body: pdb({ minAvailable: '50%', selector: { matchLabels: { app: 'web' } } }) });
    const table = 'application/json;as=Table;v=v1;g=meta.k8s.io';

    // act
    const ds = await api.send('GET', DS, { headers: { accept: table } });
    const budget = await api.send('GET', PDB, { headers: { accept: table } });

    // assess
    const heads = (r: { json: Record<string, unknown> }) =>
      (r.json.columnDefinitions as { name: string }[]).map((c) => c.name);
    expect(heads(ds).slice(0, 8)).toEqual([
      'Name',
      'Desired',
      'Current',
      'Ready',
      'Up-to-date',
      'Available',
      'Node selector',
      'Age',
    ]);
    expect(heads(budget)).toEqual(['Name', 'Min available', 'Max unavailable', 'Allowed disruptions', 'Age']);
    const cells = (budget.json.rows as { cells: unknown[] }[])[0]?.cells;
    expect(cells?.slice(0, 4)).toEqual(['web', '50%', 'N/A', '0']);
  });
});
