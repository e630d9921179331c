/** `ferry describe hpa`: kubectl's layout: the reference, metrics as current / target, bounds, replicas, conditions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlane, type TestPlane } from './harness';

describe('ferry describe hpa', () => {
  let t: TestPlane;
  beforeAll(async () => {
    t = await startTestPlane();
    await t.plane.store.create({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        minReplicas: 2,
        maxReplicas: 8,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
        ],
      },
      status: {
        currentReplicas: 3,
        desiredReplicas: 4,
        currentMetrics: [
          { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 75, averageValue: '75m' } } },
        ],
        conditions: [
          {
            type: 'AbleToScale',
            status: 'True',
            reason: 'SucceededRescale',
            message: 'the HPA controller was able to update the target scale to 4',
          },
        ],
      },
    });
  });
  afterAll(() => t.close());

  it('shows the reference, the metric, the bounds, the replicas and the conditions', async () => {
    const r = await t.ferry(['describe', 'hpa', 'web']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/Reference:\s+Deployment\/web/);
    expect(r.stdout).toContain('cpu (current / target): 75% / 60%');
    expect(r.stdout).toMatch(/Min replicas:\s+2/);
    expect(r.stdout).toMatch(/Deployment pods:\s+3 current \/ 4 desired/);
    expect(r.stdout).toMatch(
      /AbleToScale\s+True\s+SucceededRescale\s+the HPA controller was able to update the target scale to 4/,
    );
  });
});
