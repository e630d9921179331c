/**
 * `npm run bench -- scheduler`: place 10,000 pending pods (mixed requests) on 1,000 and 5,000 nodes
 * with the memory store and with SQLite (binds committed), and, in the same run, a naive first-fit
 * loop over the same in-memory data: the ratio is the cost of filtering, scoring and committing.
 * Each figure is the median of three passes, each on a freshly filled store.
 * Targets: >= 20,000 pods/s in memory at 5,000 nodes; >= 3,000 pods/s committed to SQLite.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deps } from '../functions/deps';
import { silentLogger } from '../functions/log';
import { schedulePass } from '../functions/scheduler';
import { MemoryStore } from '../functions/store/memory';
import { SqliteStore } from '../functions/store/sqlite';
import type { StateStore } from '../functions/store/types';
import { bytes, cpuMillis, type Pod } from '../schemas';
import { makeNode, makePod } from '../test/helpers/objects';
import { type Row, report } from './report';

const PODS = 10_000;
const RUNS = 3;
const CPU = ['100m', '250m', '500m', '1'];
const MEM = ['64Mi', '128Mi', '256Mi', '512Mi'];

async function fill(store: StateStore, nodes: number): Promise<void> {
  for (let i = 0; i < nodes; i++)
    await store.create(makeNode(`node-${i}`, { cpu: '16', memory: '64Gi', zone: `zone-${i % 3}` }));
  for (let i = 0; i < PODS; i++) {
    await store.create(
      makePod(`pod-${i}`, {
        cpu: CPU[i % 4] as string,
        memory: MEM[(i >> 2) % 4] as string,
        owner: { kind: 'ReplicaSet', name: `rs-${i % 50}`, uid: `rs-${i % 50}` },
      }),
    );
  }
}

/** The median of RUNS passes, each on a freshly filled store: these shared 2-core VMs are noisy. */
async function ferry(name: string, open: () => Promise<StateStore>, nodes: number): Promise<Row> {
  const runs: { bound: number; secs: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const store = await open();
    await fill(store, nodes);
    const deps: Deps = { store, clock: Date.now, log: silentLogger };
    const t0 = performance.now();
    const result = await schedulePass(deps, { events: false });
    runs.push({ bound: result.bound, secs: (performance.now() - t0) / 1000 });
    await store.close();
  }
  runs.sort((a, b) => a.secs - b.secs);
  const median = runs[Math.floor(RUNS / 2)] as { bound: number; secs: number };
  return {
    scheduler: `ferry (${name})`,
    nodes,
    pods: PODS,
    bound: median.bound,
    seconds: median.secs,
    'pods/s': median.bound / median.secs,
  };
}

/** First fit: the first node with room, no filters beyond resources, no scoring, no commit. */
function firstFit(nodes: number): Row {
  const runs = Array.from({ length: RUNS }, () => firstFitOnce(nodes)).sort(
    (a, b) => (a.seconds as number) - (b.seconds as number),
  );
  return runs[Math.floor(RUNS / 2)] as Row;
}

function firstFitOnce(nodes: number): Row {
  const pods: Pod[] = Array.from({ length: PODS }, (_, i) =>
    makePod(`pod-${i}`, { cpu: CPU[i % 4] as string, memory: MEM[(i >> 2) % 4] as string }),
  );
  const free = Array.from({ length: nodes }, () => ({ cpu: 16_000, mem: 64 * 2 ** 30 }));
  const t0 = performance.now();
  let bound = 0;
  for (const p of pods) {
    const req = p.spec.containers[0]?.resources?.requests ?? {};
    const cpu = cpuMillis(req.cpu);
    const mem = bytes(req.memory);
    for (const n of free) {
      if (n.cpu >= cpu && n.mem >= mem) {
        n.cpu -= cpu;
        n.mem -= mem;
        bound++;
        break;
      }
    }
  }
  const secs = (performance.now() - t0) / 1000;
  return {
    scheduler: 'naive first-fit (in memory, no commit)',
    nodes,
    pods: PODS,
    bound,
    seconds: secs,
    'pods/s': bound / secs,
  };
}

const rows: Row[] = [];
for (const nodes of [1_000, 5_000]) {
  rows.push(firstFit(nodes));
  rows.push(await ferry('memory store', async () => new MemoryStore(), nodes));
  rows.push(
    await ferry(
      'sqlite, committed',
      () => SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-bench-')), 'ferry.db')),
      nodes,
    ),
  );
}
const at = (label: string, nodes: number) =>
  rows.find((r) => String(r.scheduler).includes(label) && r.nodes === nodes)?.['pods/s'] as number;
report('scheduler', rows, {
  'memory pods/s at 5000 nodes (target >= 20000)': at('memory store', 5_000),
  'sqlite pods/s at 5000 nodes (target >= 3000)': at('sqlite', 5_000),
  'ferry memory / first-fit at 5000 nodes': at('memory store', 5_000) / at('first-fit', 5_000),
});
