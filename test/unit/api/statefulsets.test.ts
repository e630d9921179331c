/**
 * StatefulSets over the API: defaults as Kubernetes sets them, validation with field paths (claim
 * templates, serviceName, the alpha maxUnavailable refused by name, a name too long for its pods'
 * hostnames), the fields an update may change, and the scale subresource that `kubectl scale` uses.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const STS = '/apis/apps/v1/namespaces/default/statefulsets';
const sts = (spec: Record<string, unknown> = {}, name = 'web') => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name },
  spec: {
    serviceName: 'web',
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'app', image: 'img:1', volumeMounts: [{ name: 'www', mountPath: '/www' }] }] },
    },
    volumeClaimTemplates: [
      {
        metadata: { name: 'www' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    ],
    ...spec,
  },
});

describe('StatefulSets over the API', () => {
  it('stores one with Kubernetes defaults, its template allowed to mount its claim templates', async () => {
    const api = await startApi();
    const res = await api.send('POST', STS, { body: sts() });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({
      spec: {
        replicas: 1,
        podManagementPolicy: 'OrderedReady',
        revisionHistoryLimit: 10,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      },
    });
  });

  it.each([
    [
      'a claim template without a request',
      { volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'] } }] },
      'spec.volumeClaimTemplates[0].spec.resources.requests[storage]',
    ],
    [
      'two claim templates of one name',
      {
        volumeClaimTemplates: [1, 2].map(() => ({
          metadata: { name: 'www' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        })),
      },
      'spec.volumeClaimTemplates[1].metadata.name',
    ],
    ['a serviceName that is no DNS label', { serviceName: 'Web_Svc' }, 'spec.serviceName'],
    [
      'maxUnavailable',
      { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } },
      'spec.updateStrategy.rollingUpdate.maxUnavailable',
    ],
    ['an unknown pod management policy', { podManagementPolicy: 'Random' }, 'spec.podManagementPolicy'],
    [
      'a negative partition',
      { updateStrategy: { rollingUpdate: { partition: -1 } } },
      'spec.updateStrategy.rollingUpdate.partition',
    ],
    [
      'a selector that misses the template',
      { selector: { matchLabels: { app: 'other' } } },
      'spec.template.metadata.labels',
    ],
    [
      'restartPolicy Never',
      {
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'i' }] },
        },
      },
      'spec.template.spec.restartPolicy',
    ],
  ])('refuses %s, naming the field, storing nothing', async (_, spec, field) => {
    const api = await startApi();
    const before = await api.snapshot();
    const res = await api.send('POST', STS, { body: sts(spec) });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain(field);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses a name too long for its pods to have it as hostname', async () => {
    const api = await startApi();
    const res = await api.send('POST', STS, { body: sts({}, 'a'.repeat(53)) });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('metadata.name');
  });

  it('lets an update change replicas and the template but not the claim templates or serviceName', async () => {
    const api = await startApi();
    await api.send('POST', STS, { body: sts() });
    const patch = (body: unknown) =>
      api.send('PATCH', `${STS}/web`, { body, contentType: 'application/merge-patch+json' });
    expect((await patch({ spec: { replicas: 3, minReadySeconds: 5 } })).status).toBe(200);
    const res = await patch({ spec: { serviceName: 'other' } });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('spec.serviceName');
  });

  it('scales through the scale subresource as kubectl scale does', async () => {
    const api = await startApi();
    await api.send('POST', STS, { body: sts() });
    const res = await api.send('PATCH', `${STS}/web/scale`, {
      body: { spec: { replicas: 4 } },
      contentType: 'application/merge-patch+json',
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ kind: 'Scale', spec: { replicas: 4 } });
    const stored = await api.send('GET', `${STS}/web`);
    expect((stored.json.spec as { replicas: number }).replicas).toBe(4);
  });

  it('prints NAME, READY and AGE as kubectl does', async () => {
    const api = await startApi();
    await api.send('POST', STS, { body: sts() });
    const res = await api.send('GET', STS, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const columns = (res.json.columnDefinitions as { name: string }[]).map((c) => c.name.toLowerCase());
    expect(columns.slice(0, 3)).toEqual(['name', 'ready', 'age']);
    expect((res.json.rows as { cells: string[] }[])[0]?.cells.slice(0, 2)).toEqual(['web', '0/1']);
  });
});
