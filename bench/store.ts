/**
 * `npm run bench -- store`: conditional updates per second and list latency at 10k objects, for
 * the memory and SQLite backends in the same run. Target: SQLite >= 5,000 conditional updates/s.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../functions/store/memory';
import { SqliteStore } from '../functions/store/sqlite';
import type { Obj, StateStore } from '../functions/store/types';
import { type Row, report } from './report';

const OBJECTS = 10_000;
const UPDATES = 20_000;
const LISTS = 30;

function configMap(i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: `ns-${i % 10}`, labels: { app: `a${i % 100}` } },
    data: { value: String(i) },
  };
}

async function measure(name: string, store: StateStore): Promise<Row> {
  for (let i = 0; i < OBJECTS; i++) await store.create(configMap(i));
  const current = new Map<number, Obj>();
  for (const o of (await store.list('ConfigMap')).items) current.set(Number(o.metadata.name.slice(3)), o);
  const t0 = performance.now();
  for (let n = 0; n < UPDATES; n++) {
    const i = n % OBJECTS;
    const obj = current.get(i) as Obj;
    // Conditional: carries the resourceVersion read before, as every controller write does.
    current.set(i, await store.update({ ...obj, data: { value: String(n) } }));
  }
  const updateSecs = (performance.now() - t0) / 1000;
  const latencies: number[] = [];
  for (let k = 0; k < LISTS; k++) {
    const s = performance.now();
    await store.list('ConfigMap', k % 2 ? { namespace: 'ns-3' } : { labelSelector: 'app=a7' });
    latencies.push(performance.now() - s);
  }
  const full: number[] = [];
  for (let k = 0; k < 5; k++) {
    const s = performance.now();
    await store.list('ConfigMap');
    full.push(performance.now() - s);
  }
  latencies.sort((a, b) => a - b);
  full.sort((a, b) => a - b);
  await store.close();
  return {
    backend: name,
    'conditional updates/s': UPDATES / updateSecs,
    'filtered list p50 ms': latencies[Math.floor(LISTS / 2)] as number,
    'filtered list p99 ms': latencies[LISTS - 1] as number,
    'full list (10k) p50 ms': full[2] as number,
  };
}

const rows = [
  await measure('memory', new MemoryStore()),
  await measure('sqlite', await SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-bench-')), 'ferry.db'))),
];
const sqlite = rows[1] as Row;
report('store', rows, {
  objects: OBJECTS,
  'sqlite conditional updates/s (target >= 5000)': sqlite['conditional updates/s'] as number,
});
