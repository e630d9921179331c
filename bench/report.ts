/**
 * Shared output for benchmarks: prints a table and writes the figures to bench/results/NAME.json
 * with the machine they were measured on, so the README can quote them with their source.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export type Row = Record<string, string | number>;

export function report(name: string, rows: Row[], summary: Record<string, unknown> = {}): void {
  printTable(rows);
  for (const [k, v] of Object.entries(summary)) {
    // Objects are printed when short; long ones are in the JSON file only.
    const text = typeof v === 'number' ? String(round(v)) : typeof v === 'object' ? JSON.stringify(v) : String(v);
    console.log(`${k}: ${text.length > 240 ? '(see the JSON file)' : text}`);
  }
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const out = {
    bench: name,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    rows,
    summary,
  };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote bench/results/${name}.json`);
}

export function printTable(rows: Row[]): void {
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (typeof v === 'number' ? String(round(v)) : String(v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ');
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

export function round(n: number): number {
  if (Math.abs(n) >= 100) return Math.round(n);
  return Math.round(n * 100) / 100;
}
