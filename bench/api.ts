/**
 * `npm run bench -- api`: requests/s and p99 for GET of one object and POST create through the
 * local HTTP server (memory and SQLite stores), next to a bare node:http server returning the same
 * JSON bytes in the same run; the ratio is the figure. Loopback only; the load generator runs in
 * this process, so each rate is one core's worth of generator plus server, the same for both.
 * Target: API get >= 50% of the bare server's rate. A fourth server is the memory one with what
 * `ferry server` counts for /metrics (request counters and histograms, the store decorator): its
 * ratio to the plain one is what the counters cost on the hot path.
 */

import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createApiHandler, ensureDefaults } from '../functions/api';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../functions/api/types';
import { silentLogger } from '../functions/log';
import { createControlPlaneMetrics } from '../functions/metrics/registry';
import { instrumentStore } from '../functions/metrics/store';
import { startApiServer } from '../functions/runtime/http-server';
import { MemoryStore } from '../functions/store/memory';
import { SqliteStore } from '../functions/store/sqlite';
import type { StateStore } from '../functions/store/types';
import { issueToken } from '../functions/tokens';
import { precompile } from '../schemas';
import { type Row, report } from './report';

const DURATION = 2;
const ROUNDS = 7;
const CONNECTIONS = 20;

interface Load {
  rps: number;
  p99: number;
  errors: number;
}

async function load(url: string, opts: Partial<autocannon.Options> = {}): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, ...opts });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

interface Target {
  label: string;
  url: string;
  headers: Record<string, string>;
  close(): Promise<void>;
}

async function ferry(
  name: string,
  given: StateStore,
  counted = false,
): Promise<Target & { body: string; createUrl: string }> {
  const metrics = counted ? createControlPlaneMetrics({ counters: true }) : undefined;
  const store = metrics ? instrumentStore(given, metrics.observeStore) : given;
  const deps: ApiDeps = {
    store,
    clock: Date.now,
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: 'bench' },
    ...(metrics ? { metrics } : {}),
  };
  precompile();
  await ensureDefaults(deps);
  const { token } = await issueToken(deps, { name: 'bench', role: 'admin' });
  await store.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'one', namespace: 'default' },
    data: { k: 'v' },
  });
  const server = await startApiServer({
    handler: createApiHandler(deps),
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    log: silentLogger,
  });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const url = `${server.url}/api/v1/namespaces/default/configmaps/one`;
  const body = await (await fetch(url, { headers })).text();
  return {
    label: `ferry API, ${name}`,
    url,
    createUrl: `${server.url}/api/v1/namespaces/default/configmaps`,
    headers,
    body,
    async close() {
      await server.close();
      await store.close();
    },
  };
}

async function bare(body: string): Promise<Target> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    label: 'bare node:http, same JSON',
    url: `http://127.0.0.1:${port}/`,
    headers: {},
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function creates(target: Target & { createUrl: string }): Promise<Row> {
  let n = 0;
  const r = await load(target.createUrl, {
    method: 'POST',
    headers: target.headers,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `cm-${n++}` },
            data: { k: 'v' },
          }),
        }),
      },
    ],
  });
  return { server: target.label, request: 'POST configmap', 'req/s': r.rps, 'p99 ms': r.p99, errors: r.errors };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const mem = await ferry('memory store', new MemoryStore());
const sql = await ferry(
  'sqlite store',
  await SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-bench-')), 'ferry.db')),
);
const counted = await ferry('memory store, /metrics counting', new MemoryStore(), true);
const baseline = await bare(mem.body);
const targets = [baseline, mem, counted, sql];
// Rounds interleave the servers, so a slow stretch of this shared VM hits all of them alike; each
// figure is the median over rounds, each ratio the median of per-round ratios.
// One discarded round warms every server's JIT first; odd rounds run the servers in reverse order,
// so none always goes first (the bench's CPU speed drifts on this shared VM).
for (const t of targets) await load(t.url, { headers: t.headers, duration: 1 });
const results = new Map<Target, Load[]>(targets.map((t) => [t, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const t of round % 2 ? [...targets].reverse() : targets)
    results.get(t)?.push(await load(t.url, { headers: t.headers }));
}
const ratio = (t: Target) =>
  median((results.get(t) ?? []).map((r, i) => r.rps / ((results.get(baseline) ?? [])[i] as Load).rps));
const rows: Row[] = targets.map((t) => {
  const runs = results.get(t) ?? [];
  return {
    server: t.label,
    request: t === baseline ? 'GET' : 'GET configmap',
    'req/s': median(runs.map((r) => r.rps)),
    'p99 ms': median(runs.map((r) => r.p99)),
    errors: runs.reduce((s, r) => s + r.errors, 0),
  };
});
rows.push(await creates(mem), await creates(counted), await creates(sql));
for (const t of targets) await t.close();
report('api', rows, {
  'GET ratio ferry(memory)/bare (target >= 0.5)': ratio(mem),
  'GET ratio ferry(sqlite)/bare': ratio(sql),
  'GET ratio ferry(memory, counting)/ferry(memory)': median(
    (results.get(counted) ?? []).map((r, i) => r.rps / ((results.get(mem) ?? [])[i] as Load).rps),
  ),
  connections: CONNECTIONS,
  'seconds per measurement': DURATION,
  'rounds (GET)': ROUNDS,
});
