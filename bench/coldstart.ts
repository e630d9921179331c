/**
 * `npm run bench -- coldstart [--runs=N]`: what a Lambda container pays before it answers its first
 * event. The real entry points (`functions/runtime/lambda.ts`, bundled as `npm run build` bundles
 * them) are loaded in a fresh Node process per run and sent one first event: an API GET (no body
 * to validate), an API create of a Deployment (one kind to validate), and the controllers' schedule
 * event (a full pass over a fresh cluster). Each is timed (import, first event) and its heap read
 * after a full collection, lazily (each kind's validator compiled on first use, as shipped) and
 * against the eager baseline in the same run (every validator compiled before the first event, as
 * the API did until now); the ratio is the figure, and the validators each compiled are counted.
 * Store: SQLite (the bundle's own lazily loaded chunk), a fresh copy of one bootstrapped file per run.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type Row, report, round } from './report';

const RUNS = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 5);
const SCENARIOS = ['api-get', 'api-create', 'controllers'] as const;
const MODES = ['eager', 'lazy'] as const;
const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'coldstart');

interface Sample {
  ok: boolean;
  result?: unknown;
  importMs: number;
  firstMs: number;
  heapMB: number;
  rssMB: number;
  compiled: string[];
}

// The Lambda target of scripts/build.mjs, with the bench's two entries; inside the worktree so the
// SQLite chunk finds better-sqlite3 in node_modules as `ferry server` would.
rmSync(out, { recursive: true, force: true });
await build({
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __ferryRequire } from 'node:module'; const require = __ferryRequire(import.meta.url);",
  },
  entryPoints: {
    entry: join(import.meta.dirname, 'coldstart/entry.ts'),
    child: join(import.meta.dirname, 'coldstart/child.ts'),
  },
  outdir: out,
  external: ['better-sqlite3'],
  splitting: true,
  outExtension: { '.js': '.mjs' },
  minify: true,
});

const dir = mkdtempSync(join(tmpdir(), 'ferry-coldstart-'));
const seed = join(dir, 'seed.db');

function runChild(db: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', join(out, 'child.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      PATH: process.env.PATH ?? '',
      FERRY_STORE: 'sqlite',
      FERRY_SQLITE_PATH: db,
      FERRY_LOG_LEVEL: 'error',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('COLDSTART '));
  if (!line) throw new Error(`cold-start child ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice('COLDSTART '.length)) as Record<string, unknown>;
}

/** A fresh copy of the bootstrapped store (its WAL too: the bootstrap process did not checkpoint). */
function freshStore(n: number): string {
  const db = join(dir, `run-${n}.db`);
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(seed + suffix)) copyFileSync(seed + suffix, db + suffix);
  return db;
}

const { token } = runChild(seed, ['setup']) as { token?: string };
if (!token) throw new Error('the bootstrap function issued no admin token on a fresh store');

const samples = new Map<string, Sample[]>();
let n = 0;
// Interleaved, so a busy machine slows both modes alike.
for (let run = 0; run < RUNS; run++)
  for (const scenario of SCENARIOS)
    for (const mode of MODES) {
      const s = runChild(freshStore(n++), [mode, scenario, token]) as unknown as Sample;
      if (!s.ok) throw new Error(`${scenario} (${mode}): the first event failed: ${JSON.stringify(s.result)}`);
      const key = `${scenario}/${mode}`;
      samples.set(key, [...(samples.get(key) ?? []), s]);
    }
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rows: Row[] = [];
const ratios: Record<string, { total: number; heap: number }> = {};
for (const scenario of SCENARIOS) {
  const cell = (mode: string) => {
    const ss = samples.get(`${scenario}/${mode}`) ?? [];
    const importMs = median(ss.map((s) => s.importMs));
    const firstMs = median(ss.map((s) => s.firstMs));
    return {
      importMs,
      firstMs,
      totalMs: median(ss.map((s) => s.importMs + s.firstMs)),
      heapMB: median(ss.map((s) => s.heapMB)),
      rssMB: median(ss.map((s) => s.rssMB)),
      compiled: ss[0]?.compiled ?? [],
    };
  };
  const eager = cell('eager');
  for (const mode of MODES) {
    const c = cell(mode);
    rows.push({
      'first event': scenario,
      validators: mode,
      'import ms': c.importMs,
      'first event ms': c.firstMs,
      'total ms': c.totalMs,
      'x eager (total)': c.totalMs / eager.totalMs,
      'heap MB': c.heapMB,
      'x eager (heap)': c.heapMB / eager.heapMB,
      'rss MB': c.rssMB,
      compiled: c.compiled.length,
      kinds: c.compiled.length > 6 ? `${c.compiled.length} kinds` : c.compiled.join(' ') || '-',
    });
    if (mode === 'lazy')
      ratios[scenario] = { total: round(c.totalMs / eager.totalMs), heap: round(c.heapMB / eager.heapMB) };
  }
}
report('coldstart', rows, { runs: RUNS, store: 'sqlite', 'lazy / eager (median of runs)': ratios });
