/**
 * `npm run bench -- api`: requests/s and p99 for GET of one object and POST create through the
 * local HTTP server (memory and SQLite stores), next to a bare node:http server returning the same
 * JSON bytes in the same run; the ratio is the figure. Loopback only, 5 s per measurement.
 * Target: API get >= 50% of the bare server's rate.
 */

import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createApiHandler, ensureDefaults } from '../functions/api';
import { issueToken } from '../functions/api/tokens';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../functions/api/types';
import { silentLogger } from '../functions/log';
import { startApiServer } from '../functions/runtime/http-server';
import { MemoryStore } from '../functions/store/memory';
import { SqliteStore } from '../functions/store/sqlite';
import type { StateStore } from '../functions/store/types';
import { precompile } from '../schemas';
import { type Row, report } from './report';

const DURATION = 5;
const CONNECTIONS = 20;

async function load(
  url: string,
  opts: Partial<autocannon.Options> = {},
): Promise<{ rps: number; p99: number; errors: number }> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, ...opts });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function ferry(name: string, store: StateStore): Promise<{ get: Row; create: Row; body: string }> {
  const deps: ApiDeps = {
    store,
    clock: Date.now,
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: 'bench' },
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
  const body = await (await fetch(`${server.url}/api/v1/namespaces/default/configmaps/one`, { headers })).text();
  const get = await load(`${server.url}/api/v1/namespaces/default/configmaps/one`, { headers });
  let n = 0;
  const create = await load(`${server.url}/api/v1/namespaces/default/configmaps`, {
    method: 'POST',
    headers,
    setupClient(client) {
      client.setBody(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${process.pid}-${n++}` },
          data: { k: 'v' },
        }),
      );
    },
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
  await server.close();
  await store.close();
  return {
    body,
    get: {
      server: `ferry API, ${name}`,
      request: 'GET configmap',
      'req/s': get.rps,
      'p99 ms': get.p99,
      errors: get.errors,
    },
    create: {
      server: `ferry API, ${name}`,
      request: 'POST configmap',
      'req/s': create.rps,
      'p99 ms': create.p99,
      errors: create.errors,
    },
  };
}

async function bare(body: string): Promise<Row> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const r = await load(`http://127.0.0.1:${port}/`);
  await new Promise((r2) => server.close(() => r2(undefined)));
  return { server: 'bare node:http, same JSON', request: 'GET', 'req/s': r.rps, 'p99 ms': r.p99, errors: r.errors };
}

const mem = await ferry('memory store', new MemoryStore());
const sql = await ferry(
  'sqlite store',
  await SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-bench-')), 'ferry.db')),
);
const baseline = await bare(mem.body);
const rows = [baseline, mem.get, sql.get, mem.create, sql.create];
report('api', rows, {
  'GET ratio ferry(memory)/bare (target >= 0.5)': (mem.get['req/s'] as number) / (baseline['req/s'] as number),
  'GET ratio ferry(sqlite)/bare': (sql.get['req/s'] as number) / (baseline['req/s'] as number),
  connections: CONNECTIONS,
  'seconds per measurement': DURATION,
});
