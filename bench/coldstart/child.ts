/**
 * One cold container, in a process of its own (`node --expose-gc dist/coldstart/child.mjs MODE
 * SCENARIO TOKEN`): times the import of the bundled Lambda module and its first event, reads the
 * heap after a full collection, and prints one `COLDSTART {json}` line. `setup` instead runs the
 * bootstrap function once and prints the admin token. The store is the SQLite file the parent
 * names in FERRY_SQLITE_PATH (a fresh copy per run), so every run starts from the same state.
 */
import { appObjects } from '../lib/workload';

const [mode = 'lazy', scenario = 'api-get', token = ''] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function httpEvent(method: string, rawPath: string, body?: unknown): unknown {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requestContext: {
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
    },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
}

/** The cost and scale benches' Deployment (ten replicas reading a ConfigMap). */
const DEPLOYMENT = appObjects(0).find((o) => o.kind === 'Deployment');

/** What each scenario sends as the container's first event, and the status that means it worked. */
const EVENTS: Record<string, { fn: 'api' | 'controllers'; event: unknown; ok: (r: unknown) => boolean }> = {
  'api-get': {
    fn: 'api',
    event: httpEvent('GET', '/api/v1/namespaces/default/configmaps'),
    ok: (r) => (r as { statusCode: number }).statusCode === 200,
  },
  'api-create': {
    fn: 'api',
    event: httpEvent('POST', '/apis/apps/v1/namespaces/default/deployments', DEPLOYMENT),
    ok: (r) => (r as { statusCode: number }).statusCode === 201,
  },
  controllers: { fn: 'controllers', event: { source: 'aws.events' }, ok: (r) => (r as { ran: boolean }).ran },
};

type Entry = typeof import('./entry');

gc();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = performance.now();
const m: Entry = await import('./entry');
const imported = performance.now();
if (mode === 'setup') {
  const out = await m.bootstrap({}, {});
  console.log(`COLDSTART ${JSON.stringify({ token: out.adminToken })}`);
} else {
  const spec = EVENTS[scenario];
  if (!spec) throw new Error(`unknown scenario ${JSON.stringify(scenario)}`);
  const start = performance.now();
  if (mode === 'eager') m.precompile();
  const result = await m[spec.fn](spec.event, {});
  const done = performance.now();
  gc();
  const mem = process.memoryUsage();
  console.log(
    `COLDSTART ${JSON.stringify({
      ok: spec.ok(result),
      result: spec.ok(result) ? undefined : result,
      importMs: imported - t0,
      firstMs: done - start,
      heapMB: (mem.heapUsed - heapBefore) / 2 ** 20,
      rssMB: mem.rss / 2 ** 20,
      compiled: m.compiledKinds(),
    })}`,
  );
}
// The store and SDK clients keep handles open, as a Lambda container does between events.
process.exit(0);
