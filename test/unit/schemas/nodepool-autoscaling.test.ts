/** NodePool `spec.autoscaling`: what the API stores, defaults and refuses (422 causes naming the field). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { NodePool } from '../../../schemas';
import { applyDefaults } from '../../../schemas/defaults';
import { COLUMNS, type KindColumns } from '../../../schemas/printers/columns';
import { validate } from '../../../schemas/validate';

const pool = (spec: Record<string, unknown>) =>
  applyDefaults({
    apiVersion: 'ferry.dev/v1',
    kind: 'NodePool',
    metadata: { name: 'web' },
    spec: { cloud: 'aws-eu', instanceType: 't3.medium', zones: ['eu-west-1a'], ...spec },
  });
const fields = (spec: Record<string, unknown>) => validate(pool(spec)).map((c) => c.field);

describe('NodePool spec.autoscaling', () => {
  it("accepts an autoscaled pool between minNodes and maxNodes and fills in cluster-autoscaler's defaults", () => {
    const p = pool({ minNodes: 1, maxNodes: 5, autoscaling: { enabled: true } });
    expect(validate(p)).toEqual([]);
    expect((p as NodePool).spec.autoscaling).toEqual({
      enabled: true,
      scaleDownUnneededSeconds: 600,
      scaleDownUtilizationThreshold: 0.5,
      scaleDownDelayAfterAddSeconds: 600,
      scaleDownDelayAfterDeleteSeconds: 10,
      priority: 0,
    });
  });

  it('defaults minNodes to 0 for an autoscaled pool instead of refusing it', () => {
    const p = pool({ maxNodes: 5, autoscaling: { enabled: true } });
    expect(validate(p)).toEqual([]);
    expect((p as NodePool).spec.minNodes).toBe(0);
  });

  it('refuses a count above 1000 in desiredNodes, minNodes or maxNodes, autoscaled or not, naming the field', () => {
    expect(fields({ desiredNodes: 1001 })).toEqual(['spec.desiredNodes']);
    expect(fields({ desiredNodes: 10 ** 9 })).toEqual(['spec.desiredNodes']);
    expect(fields({ desiredNodes: 1000 })).toEqual([]);
    expect(fields({ minNodes: 5000 })).toEqual(['spec.minNodes']);
    expect(fields({ maxNodes: 1001 })).toEqual(['spec.maxNodes']);
    expect(fields({ desiredNodes: -1 })).toEqual(['spec.desiredNodes']);
    expect(fields({ desiredNodes: 2.5 })).toEqual(['spec.desiredNodes']);
    const [cause] = validate(pool({ desiredNodes: 1001 }));
    expect(cause).toMatchObject({ reason: 'FieldValueInvalid' });
    expect(cause?.message).toContain('at most 1000');
  });

  it('refuses an autoscaled pool without maxNodes, naming the field', () => {
    const causes = validate(pool({ minNodes: 1, autoscaling: { enabled: true } }));
    expect(causes).toEqual([expect.objectContaining({ field: 'spec.maxNodes', reason: 'FieldValueRequired' })]);
  });

  it('refuses desiredNodes while the autoscaler owns the count, and says where the count is', () => {
    const causes = validate(pool({ maxNodes: 5, desiredNodes: 3, autoscaling: { enabled: true } }));
    expect(causes).toEqual([expect.objectContaining({ field: 'spec.desiredNodes', reason: 'FieldValueForbidden' })]);
    expect(causes[0]?.message).toContain('status.autoscaling.desiredNodes');
    // Disabled, the user's count is the count again.
    expect(fields({ maxNodes: 5, desiredNodes: 3, autoscaling: { enabled: false } })).toEqual([]);
  });

  it('refuses minNodes above maxNodes, autoscaled or not', () => {
    expect(fields({ minNodes: 4, maxNodes: 2 })).toEqual(['spec.minNodes']);
    expect(fields({ minNodes: 4, maxNodes: 2, autoscaling: { enabled: true } })).toEqual(['spec.minNodes']);
  });

  it('refuses hostile settings, naming each field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ enabled: true, scaleDownUtilizationThreshold: 1.5 }, 'spec.autoscaling.scaleDownUtilizationThreshold'],
      [{ enabled: true, scaleDownUtilizationThreshold: -0.1 }, 'spec.autoscaling.scaleDownUtilizationThreshold'],
      [{ enabled: true, scaleDownUtilizationThreshold: '0.5' }, 'spec.autoscaling.scaleDownUtilizationThreshold'],
      [{ enabled: true, scaleDownUnneededSeconds: -1 }, 'spec.autoscaling.scaleDownUnneededSeconds'],
      [{ enabled: true, scaleDownUnneededSeconds: 1.5 }, 'spec.autoscaling.scaleDownUnneededSeconds'],
      [{ enabled: true, scaleDownUnneededSeconds: 10 ** 9 }, 'spec.autoscaling.scaleDownUnneededSeconds'],
      [{ enabled: true, scaleDownDelayAfterAddSeconds: -5 }, 'spec.autoscaling.scaleDownDelayAfterAddSeconds'],
      [{ enabled: true, scaleDownDelayAfterDeleteSeconds: -1 }, 'spec.autoscaling.scaleDownDelayAfterDeleteSeconds'],
      [
        { enabled: true, scaleDownDelayAfterDeleteSeconds: 10 ** 9 },
        'spec.autoscaling.scaleDownDelayAfterDeleteSeconds',
      ],
      [{ enabled: 'yes' }, 'spec.autoscaling.enabled'],
      [{ enabled: true, expander: 'random' }, 'spec.autoscaling.expander'],
    ];
    for (const [autoscaling, field] of bad) expect(fields({ maxNodes: 3, autoscaling }), field).toContain(field);
    expect(fields({ maxNodes: 1001, autoscaling: { enabled: true } })).toEqual(['spec.maxNodes']);
    expect(fields({ maxNodes: 1000, autoscaling: { enabled: true } })).toEqual([]);
    expect(fields({ maxNodes: 3, autoscaling: {} })).toContain('spec.autoscaling.enabled');
  });

  it("accepts the README's example, examples/clouds/autoscaled-nodepool.yaml", () => {
    const text = readFileSync(join(import.meta.dirname, '../../../examples/clouds/autoscaled-nodepool.yaml'), 'utf8');
    expect(validate(applyDefaults(parse(text)))).toEqual([]);
  });
});

describe('NodePool table columns', () => {
  it("print the autoscaler's count while it is enabled, and the user's count otherwise", () => {
    const { headers, row } = COLUMNS.NodePool as KindColumns;
    expect(headers).toEqual(['NAME', 'CLOUD', 'TYPE', 'DESIRED', 'READY', 'MIN', 'MAX', 'AUTOSCALING', 'AGE']);
    const scaled = {
      ...pool({ minNodes: 1, maxNodes: 5, autoscaling: { enabled: true } }),
      status: { readyNodes: 2, autoscaling: { desiredNodes: 3 } },
    };
    expect(row(scaled, Date.now()).slice(0, 8)).toEqual(['web', 'aws-eu', 't3.medium', '3', '2', '1', '5', 'on']);
    expect(row(pool({ desiredNodes: 9, maxNodes: 4 }), Date.now()).slice(3, 8)).toEqual(['4', '0', '0', '4', 'off']);
  });
});
