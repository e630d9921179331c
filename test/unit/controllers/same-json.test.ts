/**
 * `sameJson` (functions/controllers/util.ts), the controllers' "would this write change anything"
 * check: compared in place, it must answer exactly as comparing the two values' stable JSON texts
 * (keys sorted) did, which every controller's skip-if-unchanged relies on.
 */
import { describe, expect, it } from 'vitest';
import { sameJson } from '../../../functions/controllers/util';

/** The comparison as it was written before: both values' stable JSON texts. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
const byText = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);

/** A small deterministic generator (no flaky seeds). */
function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function value(next: () => number, depth: number): unknown {
  const r = next();
  if (depth > 3 || r < 0.35) {
    const leaves = [0, 1, -0, 2.5, '', 'a', 'b', '1', true, false, null, undefined, Number.NaN];
    return leaves[Math.floor(next() * leaves.length)];
  }
  if (r < 0.6) return Array.from({ length: Math.floor(next() * 3) }, () => value(next, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of ['a', 'b', 'c'].filter(() => next() < 0.6)) out[k] = value(next, depth + 1);
  return out;
}

/** The same value with its objects' keys in reverse order. */
function reordered(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reordered);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .reverse()
        .map((k) => [k, reordered((v as Record<string, unknown>)[k])]),
    );
  return v;
}

describe('sameJson', () => {
  it('treats objects that differ only in key order as the same', () => {
    expect(sameJson({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 })).toBe(true);
  });

  it('tells apart a changed leaf, a missing key, an extra element and an array from an object', () => {
    const subsets = [{ addresses: [{ ip: '127.0.1.1' }], ports: [{ port: 40000 }] }];
    expect(sameJson(subsets, [{ addresses: [{ ip: '127.0.1.2' }], ports: [{ port: 40000 }] }])).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameJson([1, 2], [1, 2, 3])).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson('1', 1)).toBe(false);
    expect(sameJson(null, {})).toBe(false);
  });

  it('answers as the texts did where JSON is lossy: NaN is null, a key set to undefined is not a missing key', () => {
    expect(sameJson(Number.NaN, null)).toBe(true);
    expect(sameJson({ a: undefined }, {})).toBe(false);
    expect(sameJson({ a: undefined }, { a: undefined })).toBe(true);
    expect(sameJson([undefined], [])).toBe(byText([undefined], []));
  });

  it('agrees with comparing stable JSON texts over thousands of generated pairs', () => {
    const next = random(12);
    let same = 0;
    for (let i = 0; i < 5000; i++) {
      const a = value(next, 0);
      // Half the pairs are the same value reordered (and perhaps one leaf changed), half unrelated.
      const b = next() < 0.5 ? reordered(a) : value(next, 0);
      expect(sameJson(a, b), `${stableJson(a)} vs ${stableJson(b)}`).toBe(byText(a, b));
      if (byText(a, b)) same++;
    }
    // Both answers were exercised.
    expect(same).toBeGreaterThan(1000);
    expect(same).toBeLessThan(5000);
  });
});
