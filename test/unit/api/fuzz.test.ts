/**
 * Hostile-input fuzzing against a real server (node:http + the API core + the memory store):
 * a few thousand generated requests — bodies (JSON, YAML with anchors, tags and duplicate keys,
 * near-valid manifests with one field replaced, patches that copy into themselves), paths, query
 * strings, content types, and tokens of every role. Every answer must come within a deadline, no
 * answer may be a 5xx, and a refused request must leave the store byte-for-byte as it was.
 * The seed is fixed (FUZZ_SEED overrides it) so a failure replays.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '../../../functions/api';
import { type ApiServer, startApiServer } from '../../../functions/runtime/http-server';
import { configMap, deployment, pod, service, startApi, type TestApi } from './harness';

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const REQUEST_TIMEOUT_MS = 5_000;

let api: TestApi;
let server: ApiServer;
let tokens: (string | null)[];

beforeAll(async () => {
  api = await startApi();
  await api.send('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
  });
  await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('seed') });
  await api.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: deployment('seed') });
  await api.send('POST', '/api/v1/namespaces/default/services', { body: service('seed') });
  tokens = [
    api.admin,
    await api.token({ role: 'deployer', namespaces: ['team'] }),
    await api.token({ role: 'reader' }),
    await api.token({ role: 'bootstrap', ttlSeconds: 3600 }),
    await api.token({ role: 'node', nodeName: 'n1' }),
    'ferry_nobody_c2VjcmV0',
    null,
  ];
  server = await startApiServer({
    handler: createApiHandler(api.deps),
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: api.deps.config.maxBodyBytes,
    log: api.deps.log,
  });
});

afterAll(async () => {
  await server?.close();
});

// --- generators -----------------------------------------------------------------------------

const names = fc.constantFrom('seed', 'x', 'web', 'a.b', 'UPPER', '-bad', '..', '%2e%2e', '__proto__', 'n1', '');
const namespaces = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('default', 'team') },
  { weight: 1, arbitrary: fc.constantFrom('kube-system', 'missing', '..', 'UPPER') },
);
const plurals = fc.constantFrom(
  'pods',
  'services',
  'configmaps',
  'secrets',
  'endpoints',
  'events',
  'deployments',
  'replicasets',
  'jobs',
  'cronjobs',
  'leases',
  'bogus',
);
const groupFor = (plural: string) =>
  ['deployments', 'replicasets'].includes(plural)
    ? '/apis/apps/v1'
    : ['jobs', 'cronjobs'].includes(plural)
      ? '/apis/batch/v1'
      : plural === 'leases'
        ? '/apis/coordination.k8s.io/v1'
        : '/api/v1';

const resourcePath = fc
  .tuple(
    plurals,
    namespaces,
    fc.option(names, { nil: undefined }),
    fc.constantFrom('', '/status', '/scale', '/rollback', '/x'),
  )
  .map(([plural, ns, name, sub]) =>
    name === undefined
      ? `${groupFor(plural)}/namespaces/${ns}/${plural}`
      : `${groupFor(plural)}/namespaces/${ns}/${plural}/${name}${sub}`,
  );
const clusterPath = fc.constantFrom(
  '/api/v1/namespaces',
  '/api/v1/namespaces/team',
  '/api/v1/namespaces/default/status',
  '/api/v1/nodes',
  '/api/v1/nodes/n1',
  '/api/v1/nodes/n1/status',
  '/api/v1/pods',
  '/apis/ferry.dev/v1/apply',
  '/apis/ferry.dev/v1/tokens',
  '/apis/ferry.dev/v1/tokens/admin',
  '/apis/ferry.dev/v1/nodepools',
  '/agent/v1/register',
  '/agent/v1/bogus',
  '/api',
  '/apis',
  '/apis/apps',
  '/openapi/v3',
  '/healthz',
  '/version',
  '//api//v1',
  '/api/v1/namespaces/default/../kube-system/secrets',
  '/%ff%fe',
);
const junkPath = fc.stringMatching(/^\/[a-z0-9/._%-]{0,40}$/);
const paths = fc.oneof(
  { weight: 5, arbitrary: resourcePath },
  { weight: 3, arbitrary: clusterPath },
  { weight: 1, arbitrary: junkPath },
);

const queryValues = fc.oneof(
  fc.constantFrom('All', 'true', '', '-1', '0', '1e9', 'app in (a,b', 'a!=', 'spec.nodeName=n1', 'x'.repeat(300)),
  fc.string({ maxLength: 20 }),
);
const queryKeys = fc.constantFrom(
  'dryRun',
  'labelSelector',
  'fieldSelector',
  'limit',
  'continue',
  'gracePeriodSeconds',
  'propagationPolicy',
  'resourceVersion',
  'fieldManager',
  'pretty',
  'x',
);
const queries = fc
  .array(fc.tuple(queryKeys, queryValues), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`));

const contentTypes = fc.constantFrom(
  'application/json',
  'application/yaml',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/vnd.kubernetes.protobuf',
  '',
  undefined,
);

const MAKERS: Record<string, () => Record<string, unknown>> = {
  deployments: () => deployment('seed'),
  pods: () => pod('seed'),
  services: () => service('seed', [{ port: 80, targetPort: 8080 }]),
  configmaps: () => configMap('seed'),
};

/** A valid manifest with one field (at a generated path) replaced by a generated value. */
const mutatedOf = (makers: fc.Arbitrary<() => Record<string, unknown>>) =>
  fc
    .tuple(
      makers,
      fc.oneof(
        // Fields the audit attacked, at their real depth...
        fc.constantFrom(
          ['spec', 'ports'],
          ['spec', 'ports', '0'],
          ['spec', 'ports', '0', 'port'],
          ['spec', 'ports', '0', 'nodePort'],
          ['spec', 'ports', '0', 'targetPort'],
          ['spec', 'replicas'],
          ['spec', 'selector'],
          ['spec', 'selector', 'matchExpressions'],
          ['spec', 'template', 'spec', 'containers', '0', 'resources', 'requests', 'cpu'],
          ['spec', 'containers', '0', 'resources', 'limits', 'memory'],
          ['spec', 'containers', '0', 'securityContext'],
          ['spec', 'template', 'metadata', 'creationTimestamp'],
          ['data'],
          ['metadata', 'labels'],
          ['metadata', 'annotations'],
          ['subsets'],
        ),
        // ...and anywhere else.
        fc.array(
          fc.constantFrom(
            'spec',
            'metadata',
            'ports',
            'template',
            'containers',
            '0',
            'name',
            'selector',
            'data',
            '__proto__',
          ),
          { minLength: 1, maxLength: 5 },
        ),
      ),
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom(
          2147483648,
          -1,
          1e308,
          -6,
          '1e309',
          '99999999999999999999999Ei',
          'Foo',
          null,
          [],
          {},
          [null],
          'x',
        ),
      ),
    )
    .map(([make, path, value]) => {
      const obj = make();
      // defineProperty, not assignment: a `__proto__` key must become an own key of the JSON.
      const put = (o: Record<string, unknown>, k: string, v: unknown) =>
        Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
      let cur: Record<string, unknown> = obj;
      for (const key of path.slice(0, -1)) {
        const next = Object.hasOwn(cur, key) ? cur[key] : undefined;
        if (typeof next !== 'object' || next === null) put(cur, key, {});
        cur = Object.getOwnPropertyDescriptor(cur, key)?.value as Record<string, unknown>;
      }
      put(cur, path[path.length - 1] as string, value);
      return JSON.stringify(obj);
    });
const mutated = mutatedOf(fc.constantFrom(...Object.values(MAKERS)));

const yamlBodies = fc.oneof(
  fc.constant('a: &a [1,2]\nb: *a\nc: *a\n'),
  fc.constant(
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata:\n  a: &v ${'x'.repeat(2000)}\n${Array.from({ length: 150 }, (_, i) => `  k${i}: *v`).join('\n')}\n`,
  ),
  fc.constant('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  name: e\n'),
  fc.constant(
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndata: {a: !!binary aGVsbG8=, b: !!set {x}, c: !!timestamp 2020-01-01}\n',
  ),
  fc.constant('<<: {a: 1}\n<<: {b: 2}\n'),
  fc.constant('? [a, b]\n: c\n'),
  fc.constant('--- !!omap\n- a: 1\n'),
  fc.constant(
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: .inf}}}]}\n',
  ),
  fc.constant(`${'- '.repeat(300)}x\n`),
  fc.constant(`${'['.repeat(600)}`),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => `---\n${JSON.stringify(v)}\n---\n${JSON.stringify(v)}\n`),
);

const jsonPatches = fc.oneof(
  fc.constant(
    JSON.stringify([
      { op: 'add', path: '/data/n', value: { a: 'x'.repeat(200) } },
      ...Array.from({ length: 30 }, (_, i) => ({ op: 'copy', from: '/data/n', path: `/data/n/c${i}` })),
    ]),
  ),
  fc
    .array(
      fc.record({
        op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'),
        path: fc.constantFrom(
          '',
          '/',
          '/spec',
          '/metadata/name',
          '/spec/replicas',
          '/data/-',
          '/__proto__/x',
          '/a~1b',
          '/spec/ports/0',
        ),
        from: fc.constantFrom('/metadata', '/spec', '/x', ''),
        value: fc.jsonValue({ maxDepth: 2 }),
      }),
      { maxLength: 8 },
    )
    .map((ops) => JSON.stringify(ops)),
);

const rawBodies = fc.oneof(
  fc.constant(new Uint8Array([0xff, 0xfe, 0xfd])),
  fc.constant(new TextEncoder().encode('{"a":1,"a":2}')),
  fc.constant(new TextEncoder().encode(`{"x":${'9'.repeat(400)}}`)),
  fc.constant(new TextEncoder().encode('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n\\u0000"}}')),
  fc.uint8Array({ maxLength: 64 }),
);

const bodies = fc.oneof(
  { weight: 4, arbitrary: mutated.map((s) => new TextEncoder().encode(s)) },
  { weight: 2, arbitrary: yamlBodies.map((s) => new TextEncoder().encode(s)) },
  { weight: 2, arbitrary: jsonPatches.map((s) => new TextEncoder().encode(s)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v))) },
  { weight: 1, arbitrary: rawBodies },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const requests = fc.record({
  method: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('POST', 'PUT', 'PATCH') },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'DELETE', 'HEAD', 'OPTIONS') },
  ),
  path: paths,
  query: queries,
  contentType: contentTypes,
  body: bodies,
  // The admin's requests reach parsing and validation; the other roles' mostly stop at 403.
  token: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat({ max: 6 }) }),
});

/**
 * Requests aimed at a write that reaches validation: a near-valid manifest of the path's kind,
 * created, replaced, patched or applied as the admin.
 */
const targeted = fc.constantFrom(...Object.keys(MAKERS)).chain((plural) =>
  fc
    .record({
      method: fc.constantFrom('POST', 'PUT', 'PATCH'),
      path: fc.constant(plural),
      query: fc.constantFrom('', '?dryRun=All'),
      contentType: fc.constantFrom('application/json', 'application/merge-patch+json', 'application/yaml'),
      body: mutatedOf(fc.constant(MAKERS[plural] as () => Record<string, unknown>)).map((b) =>
        new TextEncoder().encode(b),
      ),
      token: fc.constant(0),
    })
    .map((r) => {
      const base = `${groupFor(plural)}/namespaces/default/${plural}`;
      const apply = r.method === 'POST' && r.query === '' && plural !== 'pods';
      const path = r.method === 'POST' ? (apply ? '/apis/ferry.dev/v1/apply' : base) : `${base}/seed`;
      return { ...r, path, contentType: r.method === 'PATCH' ? 'application/merge-patch+json' : r.contentType };
    }),
);

const anyRequest = fc.oneof({ weight: 1, arbitrary: requests }, { weight: 1, arbitrary: targeted });

type Req = typeof requests extends fc.Arbitrary<infer T> ? T : never;

/** Requests that wait by design (a watch, a node's long-poll, a log relayed to an agent) are not fuzzed here. */
function waitsByDesign(r: Req): boolean {
  return r.query.includes('watch') || r.path.includes('/agent/v1/sync') || r.path.endsWith('/log');
}

async function send(r: Req): Promise<number> {
  const headers: Record<string, string> = {};
  const token = tokens[r.token];
  if (token) headers.authorization = `Bearer ${token}`;
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  const hasBody = r.body !== undefined && !['GET', 'HEAD'].includes(r.method);
  const res = await fetch(`${server.url}${r.path}${r.query}`, {
    method: r.method,
    headers,
    ...(hasBody ? { body: r.body } : {}),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('fuzzing the API server with hostile requests', () => {
  it('answers 3,000 generated requests within the deadline, never with a 5xx, and a refusal changes nothing', async () => {
    let before = await api.snapshot();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(anyRequest, async (r) => {
        if (waitsByDesign(r)) return;
        const status = await send(r);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        expect(status, `${r.method} ${r.path}${r.query}`).toBeLessThan(500);
        const after = await api.snapshot();
        if (status >= 400) expect(after, `${r.method} ${r.path}${r.query} -> ${status} changed the store`).toBe(before);
        before = after;
      }),
      { numRuns: 3_000, seed: SEED, endOnFailure: true },
    );
    // The generators reach past authentication and parsing: some requests succeed, many are 4xx.
    const count = (lo: number, hi: number) =>
      [...statuses].filter(([s]) => s >= lo && s < hi).reduce((n, [, c]) => n + c, 0);
    expect(count(200, 300)).toBeGreaterThan(20);
    expect(count(400, 401) + count(422, 423)).toBeGreaterThan(500);
    expect(count(403, 404)).toBeGreaterThan(30);
  }, 120_000);
});
