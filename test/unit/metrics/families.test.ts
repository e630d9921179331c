/**
 * The text exposition families.ts writes, as Prometheus parses it: escaped label values (a
 * hostile value cannot end its quote or start a line), cumulative histogram buckets ending in
 * +Inf with _sum and _count, and one series per label set however often it is used.
 */
import { describe, expect, it } from 'vitest';
import { Counter, escapeLabel, Gauge, Histogram } from '../../../functions/metrics/families';

describe('the exposition format', () => {
  it('escapes backslash, double quote and line feed in label values', async () => {
    // prepare
    const c = new Counter('t_total', 'a test', ['who']);
    const g = new Gauge('t_gauge', 'a gauge', 'v', async () => new Map([['x"} 1\nevil_metric 9', 2]]));

    // act
    c.get('a\\b"c\nd').inc();
    const text = c.render() + (await g.render());

    // assess: no line starts with an injected metric
    expect(text).toContain('t_total{who="a\\\\b\\"c\\nd"} 1');
    expect(text.split('\n').some((l) => l.startsWith('evil_metric'))).toBe(false);
    expect(escapeLabel('plain')).toBe('plain');
  });

  it('writes cumulative buckets up to +Inf, then _sum and _count', () => {
    // prepare
    const h = new Histogram('t_seconds', 'latency', ['op'], [0.1, 1]);

    // act
    const s = h.get('get');
    for (const v of [0.05, 0.1, 0.5, 3]) s.observe(v);
    const lines = h.render().trim().split('\n');

    // assess
    expect(lines).toEqual([
      '# HELP t_seconds latency',
      '# TYPE t_seconds histogram',
      't_seconds_bucket{op="get",le="0.1"} 2',
      't_seconds_bucket{op="get",le="1"} 3',
      't_seconds_bucket{op="get",le="+Inf"} 4',
      't_seconds_sum{op="get"} 3.65',
      't_seconds_count{op="get"} 4',
    ]);
  });

  it('keeps one series per label set and refuses a wrong number of label values', () => {
    // prepare
    const c = new Counter('t_total', 'a test', ['a', 'b']);

    // act
    for (let i = 0; i < 1000; i++) c.get('x', 'y').inc();

    // assess
    expect(c.render()).toContain('t_total{a="x",b="y"} 1000');
    expect(c.render().trim().split('\n')).toHaveLength(3);
    expect(() => c.get('only-one')).toThrow(/1 label values for 2 labels/);
  });
});
