import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../../functions/api/diff';
import { jsonPatch, mergePatch } from '../../../functions/api/patch';

describe('JSON merge patch (RFC 7386)', () => {
  it('follows the examples of the RFC', () => {
    // prepare: RFC 7386 appendix A, a selection
    const cases: [unknown, unknown, unknown][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];

    // act + assess
    for (const [target, patch, result] of cases) expect(mergePatch(target, patch)).toEqual(result);
  });

  it('does not mutate its inputs', () => {
    // prepare
    const target = { a: { b: 1 } };

    // act
    mergePatch(target, { a: { b: 2 } });

    // assess
    expect(target).toEqual({ a: { b: 1 } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('adds, removes, replaces, moves, copies and tests', () => {
    // act
    const out = jsonPatch({ a: [1, 2], b: { c: 1 } }, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'remove', path: '/a/0' },
      { op: 'replace', path: '/b/c', value: 2 },
      { op: 'copy', from: '/b', path: '/d' },
      { op: 'move', from: '/d/c', path: '/e' },
      { op: 'test', path: '/e', value: 2 },
      { op: 'add', path: '/f~1g', value: true },
    ]);

    // assess
    expect(out).toEqual({ a: [2, 3], b: { c: 2 }, d: {}, e: 2, 'f/g': true });
  });

  it('fails the whole patch on a bad path or a failed test', () => {
    // act + assess
    expect(() => jsonPatch({ a: 1 }, [{ op: 'remove', path: '/nope' }])).toThrow(/path does not exist/);
    expect(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(/test failed/);
    expect(() => jsonPatch({ a: 1 }, [{ op: 'add', path: '/__proto__/x', value: 1 }])).toThrow(/not allowed/);
  });
});

describe('unified diff', () => {
  it('shows changed lines with context and hunk headers', () => {
    // act
    const diff = unifiedDiff('a\nb\nc\nd\ne\nf\ng\nh\n', 'a\nb\nc\nd\nE\nf\ng\nh\n', 'live/x', 'desired/x');

    // assess
    expect(diff).toBe('--- live/x\n+++ desired/x\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n');
  });

  it('shows a new object as all added and equal texts as nothing', () => {
    // act + assess
    expect(unifiedDiff('', 'a\nb\n', 'l', 'd')).toBe('--- l\n+++ d\n@@ -0,0 +1,2 @@\n+a\n+b\n');
    expect(unifiedDiff('a\n', 'a\n', 'l', 'd')).toBe('');
  });
});
