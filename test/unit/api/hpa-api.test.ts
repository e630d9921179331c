/**
 * HorizontalPodAutoscalers through the API: Kubernetes' defaults, `kubectl get hpa`'s columns,
 * and hostile or unsupported specs refused with a 422 naming the field, storing nothing.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const HPAS = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

function hpa(spec: Record<string, unknown> = {}, name = 'web') {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: 'default' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 5, ...spec },
  };
}

const cpu = (target: Record<string, unknown>) => [{ type: 'Resource', resource: { name: 'cpu', target } }];

describe('HorizontalPodAutoscaler API', () => {
  it('stores an HPA with Kubernetes defaults: minReplicas 1, 80% CPU, and the rules behavior leaves out', async () => {
    const api = await startApi();
    const plain = await api.send('POST', HPAS, { body: hpa() });
    expect(plain.status).toBe(201);
    expect(plain.json.spec).toMatchObject({
      minReplicas: 1,
      metrics: cpu({ type: 'Utilization', averageUtilization: 80 }),
    });
    expect((plain.json.spec as { behavior?: unknown }).behavior).toBeUndefined();
    const partial = await api.send('POST', HPAS, {
      body: hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } }, 'partial'),
    });
    expect(partial.status).toBe(201);
    expect((partial.json.spec as { behavior: unknown }).behavior).toEqual({
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 15 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ],
      },
      scaleDown: {
        stabilizationWindowSeconds: 60,
        selectPolicy: 'Max',
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    });
  });

  it("prints kubectl's columns: REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS", async () => {
    const api = await startApi();
    await api.send('POST', HPAS, {
      body: hpa({
        minReplicas: 2,
        metrics: [
          ...cpu({ type: 'Utilization', averageUtilization: 50 }),
          { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } },
        ],
      }),
    });
    const table = await api.send('GET', HPAS, { headers: { accept: TABLE } });
    const columns = (table.json.columnDefinitions as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(['Name', 'Reference', 'Targets', 'Minpods', 'Maxpods', 'Replicas', 'Age']);
    const cells = (table.json.rows as { cells: unknown[] }[])[0]?.cells;
    expect(cells?.slice(0, 6)).toEqual([
      'web',
      'Deployment/web',
      'cpu: <unknown>/50%, memory: <unknown>/100Mi',
      '2',
      '5',
      '0',
    ]);
  });

  const refused: [string, Record<string, unknown>, string[]][] = [
    [
      'a Pods metric',
      { metrics: [{ type: 'Pods', pods: { metric: { name: 'qps' } } }] },
      ['spec.metrics[0].type', 'spec.metrics[0].pods'],
    ],
    [
      'an Object metric',
      { metrics: [{ type: 'Object', object: {} }] },
      ['spec.metrics[0].type', 'spec.metrics[0].object'],
    ],
    [
      'an External metric',
      { metrics: [{ type: 'External', external: {} }] },
      ['spec.metrics[0].type', 'spec.metrics[0].external'],
    ],
    ['maxReplicas below minReplicas', { minReplicas: 4, maxReplicas: 2 }, ['spec.maxReplicas']],
    ['minReplicas 0', { minReplicas: 0 }, ['spec.minReplicas']],
    [
      'a zero utilization target',
      { metrics: cpu({ type: 'Utilization', averageUtilization: 0 }) },
      ['spec.metrics[0].resource.target.averageUtilization'],
    ],
    [
      'a Value target for a resource',
      { metrics: cpu({ type: 'Value', value: '1' }) },
      ['spec.metrics[0].resource.target.type'],
    ],
    [
      'Utilization without a number',
      { metrics: cpu({ type: 'Utilization' }) },
      ['spec.metrics[0].resource.target.averageUtilization'],
    ],
    [
      'a negative average value',
      { metrics: cpu({ type: 'AverageValue', averageValue: '-1' }) },
      ['spec.metrics[0].resource.target.averageValue'],
    ],
    [
      'a resource the nodes do not report',
      {
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'ephemeral-storage', target: { type: 'AverageValue', averageValue: '1Gi' } },
          },
        ],
      },
      ['spec.metrics[0].resource.name'],
    ],
    ['a Resource metric without its source', { metrics: [{ type: 'Resource' }] }, ['spec.metrics[0].resource']],
    [
      'two sources in one metric',
      {
        metrics: [
          {
            ...cpu({ type: 'Utilization', averageUtilization: 5 })[0],
            containerResource: { name: 'cpu', container: 'a', target: { type: 'Utilization', averageUtilization: 5 } },
          },
        ],
      },
      ['spec.metrics[0].containerResource'],
    ],
    [
      'a target without a scale subresource',
      { scaleTargetRef: { kind: 'DaemonSet', name: 'x' } },
      ['spec.scaleTargetRef.kind'],
    ],
    [
      'a target in another API group',
      { scaleTargetRef: { apiVersion: 'v1', kind: 'Deployment', name: 'x' } },
      ['spec.scaleTargetRef.apiVersion'],
    ],
    [
      'a period of 0 s',
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 0 }] } } },
      ['spec.behavior.scaleUp.policies[0].periodSeconds'],
    ],
    [
      'a period over 1800 s',
      { behavior: { scaleDown: { policies: [{ type: 'Percent', value: 10, periodSeconds: 1801 }] } } },
      ['spec.behavior.scaleDown.policies[0].periodSeconds'],
    ],
    [
      'a policy value of 0',
      { behavior: { scaleDown: { policies: [{ type: 'Pods', value: 0, periodSeconds: 60 }] } } },
      ['spec.behavior.scaleDown.policies[0].value'],
    ],
    ['no policies', { behavior: { scaleDown: { policies: [] } } }, ['spec.behavior.scaleDown.policies']],
    [
      'a window over an hour',
      { behavior: { scaleUp: { stabilizationWindowSeconds: 3601 } } },
      ['spec.behavior.scaleUp.stabilizationWindowSeconds'],
    ],
    ['the alpha tolerance', { behavior: { scaleUp: { tolerance: '0.05' } } }, ['spec.behavior.scaleUp.tolerance']],
  ];
  for (const [what, spec, fields] of refused) {
    it(`refuses ${what} with a 422 naming ${fields.join(' and ')}, storing nothing`, async () => {
      const api = await startApi();
      const before = await api.snapshot();
      const res = await api.send('POST', HPAS, { body: hpa(spec) });
      expect(res.status).toBe(422);
      const named = (res.json.details?.causes ?? []).map((c) => c.field);
      for (const f of fields) expect(named).toContain(f);
      expect(await api.snapshot()).toBe(before);
    });
  }

  it('refuses unknown fields and a selectPolicy it does not know', async () => {
    const api = await startApi();
    const typo = await api.send('POST', HPAS, { body: hpa({ maxReplica: 3 }) });
    expect(typo.status).toBe(422);
    const bad = await api.send('POST', HPAS, { body: hpa({ behavior: { scaleUp: { selectPolicy: 'Fastest' } } }) });
    expect(bad.status).toBe(422);
  });
});
