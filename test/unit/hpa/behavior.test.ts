/**
 * Stabilization and rate limits of the HPA (hpa-behavior.ts), with Kubernetes' defaults and
 * given policies: a scale-down waits out its window, scale-up is limited per period, selectPolicy
 * Min/Max/Disabled, and the legacy rules of an HPA without behavior.
 */
import { describe, expect, it } from 'vitest';
import { newHistory, normalize, recordRescale } from '../../../functions/controllers/hpa-behavior';
import {
  DEFAULT_SCALE_DOWN,
  DEFAULT_SCALE_UP,
  type HorizontalPodAutoscaler,
  type HPAScalingRules,
} from '../../../schemas';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function hpa(behavior?: { scaleUp?: HPAScalingRules; scaleDown?: HPAScalingRules }): HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'h', namespace: 'default' },
    spec: {
      scaleTargetRef: { kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 20,
      ...(behavior
        ? {
            behavior: {
              scaleUp: { ...DEFAULT_SCALE_UP, ...behavior.scaleUp },
              scaleDown: { ...DEFAULT_SCALE_DOWN, ...behavior.scaleDown },
            },
          }
        : {}),
    },
  } as HorizontalPodAutoscaler;
}

const args = (current: number, desired: number, now: number, min = 1, max = 20) => ({
  current,
  desired,
  min,
  max,
  now,
});

describe('HPA stabilization and rate limits', () => {
  it('holds a scale-down for the default 300 s window after the replicas were last wanted', () => {
    const h = hpa({});
    const history = newHistory(5, T0);
    const soon = normalize(h, history, args(5, 2, T0 + 60_000));
    expect(soon.replicas).toBe(5);
    expect(soon.ableToScale).toMatchObject({ reason: 'ScaleDownStabilized' });
    const later = normalize(h, history, args(5, 2, T0 + 301_000));
    expect(later.replicas).toBe(2);
    expect(later.ableToScale).toMatchObject({ reason: 'ReadyForNewScale' });
  });

  it('scales up at once with the default scale-up window of 0 s', () => {
    const history = newHistory(2, T0);
    const r = normalize(hpa({}), history, args(2, 5, T0 + 1000));
    expect(r.replicas).toBe(5);
    expect(r.scalingLimited).toMatchObject({ status: 'False', reason: 'DesiredWithinRange' });
  });

  it('limits a scale-up to the larger of 4 pods and 100% per 15 s by default', () => {
    const h = hpa({});
    const history = newHistory(2, T0);
    const first = normalize(h, history, args(2, 20, T0 + 1000));
    expect(first.replicas).toBe(6); // max(2 + 4, 2 x 2)
    expect(first.scalingLimited).toMatchObject({ status: 'True', reason: 'ScaleUpLimit' });
    recordRescale(h, history, 2, 6, T0 + 1000);
    // Within the same 15 s period the start is still 2: nothing more is allowed.
    expect(normalize(h, history, args(6, 20, T0 + 5000)).replicas).toBe(6);
    // After the period, from 6: max(6 + 4, 12) = 12.
    expect(normalize(h, history, args(6, 20, T0 + 17_000)).replicas).toBe(12);
  });

  it('takes the policy allowing the least change with selectPolicy Min', () => {
    const h = hpa({
      scaleUp: {
        selectPolicy: 'Min',
        stabilizationWindowSeconds: 0,
        policies: [
          { type: 'Pods', value: 1, periodSeconds: 60 },
          { type: 'Percent', value: 100, periodSeconds: 60 },
        ],
      },
    });
    expect(normalize(h, newHistory(4, T0), args(4, 10, T0)).replicas).toBe(5);
  });

  it('never scales down with selectPolicy Disabled', () => {
    const h = hpa({
      scaleDown: {
        selectPolicy: 'Disabled',
        stabilizationWindowSeconds: 0,
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    });
    const r = normalize(h, newHistory(8, T0 - 600_000), args(8, 1, T0));
    expect(r.replicas).toBe(8);
    expect(r.scalingLimited).toMatchObject({ status: 'True', reason: 'ScaleDownLimit' });
  });

  it('limits a scale-down by a Pods policy per period', () => {
    const h = hpa({
      scaleDown: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }],
      },
    });
    const history = newHistory(10, T0 - 600_000);
    const r = normalize(h, history, args(10, 1, T0));
    expect(r.replicas).toBe(8);
    recordRescale(h, history, 10, 8, T0);
    expect(normalize(h, history, args(8, 1, T0 + 30_000)).replicas).toBe(8);
    expect(normalize(h, history, args(8, 1, T0 + 61_000)).replicas).toBe(6);
  });

  it('keeps the result within minReplicas and maxReplicas', () => {
    const up = normalize(hpa({}), newHistory(3, T0), args(3, 6, T0, 1, 5));
    expect(up).toMatchObject({ replicas: 5, scalingLimited: { status: 'True', reason: 'TooManyReplicas' } });
    const down = normalize(
      hpa({
        scaleDown: {
          stabilizationWindowSeconds: 0,
          selectPolicy: 'Max',
          policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
        },
      }),
      newHistory(3, T0 - 600_000),
      args(3, 1, T0, 2, 5),
    );
    expect(down).toMatchObject({ replicas: 2, scalingLimited: { status: 'True', reason: 'TooFewReplicas' } });
  });

  it('without behavior: at most double (or 4) per sync and a 5-minute downscale window', () => {
    const h = hpa();
    const history = newHistory(3, T0);
    expect(normalize(h, history, args(3, 20, T0)).replicas).toBe(6);
    // The 20 asked for a minute ago still holds the scale-down back, and the rate limit caps it: 2 x 6.
    expect(normalize(h, history, args(6, 1, T0 + 60_000)).replicas).toBe(12);
    expect(normalize(h, newHistory(6, T0 - 600_000), args(6, 1, T0)).replicas).toBe(1);
  });
});
