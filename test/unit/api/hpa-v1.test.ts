/**
 * autoscaling/v1 HorizontalPodAutoscalers as a view of the stored v2 (what `kubectl autoscale`
 * 1.32 writes): created and read in v1, patched in v1 terms, what v1 cannot say kept in
 * Kubernetes' annotations across a read-modify-write, and v2 preferred in discovery.
 */
import { describe, expect, it } from 'vitest';
import { ANNOTATION } from '../../../schemas/autoscaling-v1';
import { startApi } from './harness';

const V1 = '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers';
const V2 = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';

const v1 = {
  apiVersion: 'autoscaling/v1',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: 2,
    maxReplicas: 6,
    targetCPUUtilizationPercentage: 60,
  },
};

describe('autoscaling/v1 HorizontalPodAutoscalers', () => {
  it('stores a v1 HPA as v2 and answers in the version asked', async () => {
    const api = await startApi();
    const created = await api.send('POST', V1, { body: v1 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      apiVersion: 'autoscaling/v1',
      spec: { targetCPUUtilizationPercentage: 60, minReplicas: 2 },
    });
    const asV2 = await api.send('GET', `${V2}/web`);
    expect(asV2.json.spec).toMatchObject({
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
      ],
    });
    const list = await api.send('GET', V1);
    expect(list.json).toMatchObject({ kind: 'HorizontalPodAutoscalerList', apiVersion: 'autoscaling/v1' });
    expect(list.json.items?.[0]).toMatchObject({
      apiVersion: 'autoscaling/v1',
      spec: { targetCPUUtilizationPercentage: 60 },
    });
  });

  it('applies a v1 merge patch to the v1 view', async () => {
    const api = await startApi();
    await api.send('POST', V1, { body: v1 });
    const patched = await api.send('PATCH', `${V1}/web`, {
      body: { spec: { targetCPUUtilizationPercentage: 75, maxReplicas: 9 } },
      contentType: 'application/merge-patch+json',
    });
    expect(patched.status).toBe(200);
    expect(patched.json.spec).toMatchObject({ targetCPUUtilizationPercentage: 75, maxReplicas: 9 });
    const asV2 = await api.send('GET', `${V2}/web`);
    expect(JSON.stringify(asV2.json.spec)).toContain('"averageUtilization":75');
  });

  it('keeps what v1 cannot say in annotations, so a v1 read-modify-write loses nothing', async () => {
    const api = await startApi();
    const memory = {
      type: 'Resource',
      resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } },
    };
    await api.send('POST', V2, {
      body: {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web' },
        spec: {
          scaleTargetRef: { kind: 'Deployment', name: 'web' },
          maxReplicas: 5,
          metrics: [memory],
          behavior: { scaleDown: { stabilizationWindowSeconds: 30 } },
        },
      },
    });
    const read = await api.send('GET', `${V1}/web`);
    const annotations = (read.json.metadata as { annotations: Record<string, string> }).annotations;
    expect(JSON.parse(annotations[ANNOTATION.metrics] as string)).toEqual([memory]);
    const written = await api.send('PUT', `${V1}/web`, {
      body: { ...read.json, spec: { ...(read.json.spec as object), maxReplicas: 7 } },
    });
    expect(written.status).toBe(200);
    const asV2 = await api.send('GET', `${V2}/web`);
    expect(asV2.json.spec).toMatchObject({
      maxReplicas: 7,
      metrics: [memory],
      behavior: { scaleDown: { stabilizationWindowSeconds: 30 } },
    });
    expect((asV2.json.metadata as { annotations?: object }).annotations).toBeUndefined();
  });

  it('lists v2 as the preferred version and v1 beside it', async () => {
    const api = await startApi();
    const group = await api.send('GET', '/apis/autoscaling');
    expect(group.json).toMatchObject({
      preferredVersion: { groupVersion: 'autoscaling/v2' },
      versions: [{ groupVersion: 'autoscaling/v2' }, { groupVersion: 'autoscaling/v1' }],
    });
    const resources = await api.send('GET', '/apis/autoscaling/v1');
    expect(resources.json).toMatchObject({ groupVersion: 'autoscaling/v1' });
  });

  it('refuses a v1 watch, a v1 server-side apply, and a v1 body that v2 validation refuses', async () => {
    const api = await startApi();
    const watch = await api.send('GET', V1, { query: { watch: 'true' } });
    expect(watch.status).toBe(400);
    const ssa = await api.send('PATCH', `${V1}/web`, { raw: 'spec: {}', contentType: 'application/apply-patch+yaml' });
    expect(ssa.status).toBe(415);
    const before = await api.snapshot();
    const bad = await api.send('POST', V1, {
      body: { ...v1, spec: { ...v1.spec, targetCPUUtilizationPercentage: 0 } },
    });
    expect(bad.status).toBe(422);
    expect(bad.json.details?.causes?.map((c) => c.field)).toContain('spec.targetCPUUtilizationPercentage');
    expect(await api.snapshot()).toBe(before);
    const anonymous = await api.send('GET', V1, { token: null });
    expect(anonymous.status).toBe(401);
  });
});
