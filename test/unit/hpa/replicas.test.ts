/**
 * The HPA's replica calculator against Kubernetes' own cases (replica_calculator_test.go): the
 * ratio and its 10% tolerance, unready and missing pods on the way up and down, pods without
 * requests, and the AverageValue target.
 */
import { describe, expect, it } from 'vitest';
import { type PodMetric, type PodSample, resourceReplicas } from '../../../functions/controllers/hpa-replicas';

const NOW = Date.parse('2026-01-01T01:00:00Z');
const LONG_AGO = NOW - 3_600_000;

function pod(name: string, request: number | undefined, opts: Partial<PodSample> = {}): PodSample {
  return {
    name,
    ignored: false,
    pending: false,
    ready: { status: 'True', lastTransitionTime: LONG_AGO },
    startTime: LONG_AGO,
    request,
    ...(request === undefined ? { missingRequestIn: 'app' } : {}),
    ...opts,
  };
}

function usage(values: Record<string, number>): Map<string, PodMetric> {
  return new Map(Object.entries(values).map(([k, value]) => [k, { value, timestamp: NOW - 5_000, windowMs: 15_000 }]));
}

const cpu = (percent: number) => ({ type: 'Utilization' as const, value: percent });

describe('the HPA replica calculator', () => {
  it('scales up by the ratio of use to target, rounded up', () => {
    const pods = [pod('a', 1000), pod('b', 1000), pod('c', 1000)];
    const r = resourceReplicas(3, cpu(30), pods, usage({ a: 500, b: 700, c: 800 }), true, 'cpu', NOW);
    // 2000m of 3000m requested = 66%; 66/30 x 3 pods = 6.6 -> 7
    expect(r).toEqual({ ok: true, replicas: 7, utilization: 66, average: 666 });
  });

  it('keeps the count when the ratio is within the 10% tolerance', () => {
    const pods = [pod('a', 1000), pod('b', 1000)];
    const r = resourceReplicas(2, cpu(50), pods, usage({ a: 540, b: 540 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 2, utilization: 54 });
    const beyond = resourceReplicas(2, cpu(50), pods, usage({ a: 560, b: 560 }), true, 'cpu', NOW);
    expect(beyond).toMatchObject({ ok: true, replicas: 3, utilization: 56 });
  });

  it('scales down when use is well below target', () => {
    const pods = [pod('a', 1000), pod('b', 1000), pod('c', 1000), pod('d', 1000)];
    const r = resourceReplicas(4, cpu(50), pods, usage({ a: 100, b: 100, c: 100, d: 100 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 1, utilization: 10 });
  });

  it('counts unready pods as idle when scaling up, so a starting pod does not inflate the scale', () => {
    const pods = [
      pod('a', 1000),
      pod('b', 1000),
      pod('c', 1000, { ready: { status: 'False', lastTransitionTime: LONG_AGO }, startTime: NOW - 10_000 }),
    ];
    // Ready pods at 100% of a 50% target; the unready one counts as 0: (1000+1000+0)/3000 = 66% -> ratio 1.33 -> ceil(4) = 4
    const r = resourceReplicas(3, cpu(50), pods, usage({ a: 1000, b: 1000, c: 900 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 4, utilization: 100 });
  });

  it('treats missing pods as using their whole request when scaling down', () => {
    const pods = [pod('a', 1000), pod('b', 1000), pod('c', 1000)];
    // a and b at 10% (ratio 0.2); c has no metric: counted at 100% -> (100+100+1000)/3000 = 40% of a 50% target
    const r = resourceReplicas(3, cpu(50), pods, usage({ a: 100, b: 100 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 3 });
  });

  it('treats missing pods as idle when scaling up', () => {
    const pods = [pod('a', 1000), pod('b', 1000), pod('c', 1000)];
    // a and b at 100% of a 50% target; c missing counts 0: (2000)/3000 = 66% -> 1.33 x 3 = 4
    const r = resourceReplicas(3, cpu(50), pods, usage({ a: 1000, b: 1000 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 4 });
  });

  it('fails Utilization for a pod without a request, naming the container and the pod', () => {
    const pods = [pod('a', 1000), pod('b', undefined)];
    const r = resourceReplicas(2, cpu(50), pods, usage({ a: 500, b: 500 }), true, 'cpu', NOW);
    expect(r).toEqual({ ok: false, error: 'missing request for cpu in container app of Pod b' });
  });

  it('fails when no pod has a metric yet', () => {
    const r = resourceReplicas(2, cpu(50), [pod('a', 1000)], new Map(), true, 'cpu', NOW);
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringContaining('no metrics returned from resource metrics API'),
    });
  });

  it('fails when only unready pods have metrics', () => {
    const pods = [pod('a', 1000, { pending: true })];
    const r = resourceReplicas(1, cpu(50), pods, usage({ a: 900 }), true, 'cpu', NOW);
    expect(r).toMatchObject({ ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' });
  });

  it('ignores deleting and failed pods', () => {
    const pods = [pod('a', 1000), pod('b', 1000, { ignored: true })];
    const r = resourceReplicas(2, cpu(50), pods, usage({ a: 1000, b: 0 }), true, 'cpu', NOW);
    // Only a counts: 100% of a 50% target -> ceil(2 x 1 ready pod) = 2
    expect(r).toMatchObject({ ok: true, replicas: 2, utilization: 100 });
  });

  it('does not apply CPU readiness rules to memory', () => {
    const pods = [
      pod('a', 1000, { ready: { status: 'False', lastTransitionTime: NOW - 1000 }, startTime: NOW - 2000 }),
    ];
    const r = resourceReplicas(1, cpu(50), pods, usage({ a: 1000 }), false, 'memory', NOW);
    expect(r).toMatchObject({ ok: true, replicas: 2 });
  });

  it('scales an AverageValue target by the average per pod', () => {
    const pods = [pod('a', undefined), pod('b', undefined)];
    const target = { type: 'AverageValue' as const, value: 100_000 }; // 100 (thousandths: 100m or 100 bytes)
    const r = resourceReplicas(2, target, pods, usage({ a: 250_000, b: 150_000 }), false, 'memory', NOW);
    expect(r).toEqual({ ok: true, replicas: 4, average: 200_000 });
  });
});
