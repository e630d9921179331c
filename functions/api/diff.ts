/**
 * A small line-based unified diff (the `diff -u` format, 3 lines of context) for apply's dry run.
 * Common prefix and suffix are trimmed first; the middle is an LCS table, which is fine for
 * manifests. A middle too large for the table (a huge ConfigMap) is shown as removed + added.
 */
const CONTEXT = 3;
const MAX_TABLE_CELLS = 4_000_000;

type Line = { op: ' ' | '-' | '+'; text: string };

export function unifiedDiff(before: string, after: string, fromLabel: string, toLabel: string): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const hunks = toHunks(editScript(a, b));
  return [`--- ${fromLabel}`, `+++ ${toLabel}`, ...hunks].join('\n') + '\n';
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function editScript(a: string[], b: string[]): Line[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const out: Line[] = a.slice(0, start).map((text) => ({ op: ' ', text }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  out.push(...middle(midA, midB));
  out.push(...a.slice(endA).map((text): Line => ({ op: ' ', text })));
  return out;
}

function middle(a: string[], b: string[]): Line[] {
  if ((a.length + 1) * (b.length + 1) > MAX_TABLE_CELLS) {
    return [...a.map((text): Line => ({ op: '-', text })), ...b.map((text): Line => ({ op: '+', text }))];
  }
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], in one flat array.
  const w = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * w + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
    }
  }
  const out: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i] as string });
      i++;
      j++;
    } else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number))
      out.push({ op: '-', text: a[i++] as string });
    else out.push({ op: '+', text: b[j++] as string });
  }
  while (i < a.length) out.push({ op: '-', text: a[i++] as string });
  while (j < b.length) out.push({ op: '+', text: b[j++] as string });
  return out;
}

function toHunks(lines: Line[]): string[] {
  const out: string[] = [];
  const changed = lines.map((l, i) => (l.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  let k = 0;
  while (k < changed.length) {
    const first = changed[k] as number;
    let last = first;
    while (k + 1 < changed.length && (changed[k + 1] as number) - last <= 2 * CONTEXT) last = changed[++k] as number;
    k++;
    const from = Math.max(0, first - CONTEXT);
    const to = Math.min(lines.length, last + CONTEXT + 1);
    // Line numbers of the hunk's start in a and b.
    let aLine = 1;
    let bLine = 1;
    for (const l of lines.slice(0, from)) {
      if (l.op !== '+') aLine++;
      if (l.op !== '-') bLine++;
    }
    const body = lines.slice(from, to);
    const aCount = body.filter((l) => l.op !== '+').length;
    const bCount = body.filter((l) => l.op !== '-').length;
    out.push(`@@ -${aCount ? aLine : aLine - 1},${aCount} +${bCount ? bLine : bLine - 1},${bCount} @@`);
    for (const l of body) out.push(`${l.op}${l.text}`);
  }
  return out;
}
