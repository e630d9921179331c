/**
 * The architecture, checked: no import circles among the product's files, every import allowed by
 * the "May import:" rule of the folder README that governs the importing file, and no source file
 * over 400 lines without the reason at its top. The rules live in the READMEs (where a reader
 * looks for them), not here; `EXCEPTIONS` names each arrow still to be mended, and fails once it
 * is mended so the list only shrinks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCircles, importEdges, sourceFiles } from './imports';
import { violation } from './rules';

const ROOT = join(import.meta.dirname, '..', '..');

/** `from -> to` arrows that break a rule today, each with the issue that removes it. */
const EXCEPTIONS: Record<string, string> = {};
/** Circles still to be broken (sorted file lists joined by " <-> "). */
const CIRCLE_EXCEPTIONS: Record<string, string> = {};

const MAX_LINES = 400;
/** Files still over the limit, each with the issue that splits it. */
const LONG_EXCEPTIONS: Record<string, string> = {};
const LONG_FILE_REASON = /longer than 400 lines because/i;

describe('architecture', () => {
  const edges = importEdges(ROOT);

  it('reads the import graph of every product file', () => {
    expect(sourceFiles(ROOT).length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('has no import circles', () => {
    const circles = importCircles(edges).map((c) => c.join(' <-> '));
    expect(circles.filter((c) => !(c in CIRCLE_EXCEPTIONS))).toEqual([]);
    expect(Object.keys(CIRCLE_EXCEPTIONS).filter((c) => !circles.includes(c))).toEqual([]);
  });

  it("imports only what the governing folder README's May import rule allows", () => {
    const broken = new Map<string, string>();
    for (const e of edges) {
      const why = violation(ROOT, e);
      if (why) broken.set(`${e.from} -> ${e.to}`, why);
    }
    expect([...broken].filter(([arrow]) => !(arrow in EXCEPTIONS)).map(([, why]) => why)).toEqual([]);
    expect(Object.keys(EXCEPTIONS).filter((arrow) => !broken.has(arrow))).toEqual([]);
  });

  it('keeps source files under 400 lines unless the file says why at its top', () => {
    const long = sourceFiles(ROOT).filter((f) => {
      const text = readFileSync(join(ROOT, f), 'utf8');
      return text.split('\n').length > MAX_LINES && !LONG_FILE_REASON.test(text.slice(0, 2000));
    });
    expect(long.filter((f) => !(f in LONG_EXCEPTIONS))).toEqual([]);
    expect(Object.keys(LONG_EXCEPTIONS).filter((f) => !long.includes(f))).toEqual([]);
  });
});
