/**
 * Issue 18's input-hardening findings, each written from the attack the audit ran: the request is
 * refused with the status and the field a user would need, fast, and the store is byte-for-byte
 * what it was.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { configMap, deployment, pod, type Sent, service, startApi, type TestApi } from './harness';

const NS = '/api/v1/namespaces/default';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const JOBS = '/apis/batch/v1/namespaces/default/jobs';
const APPLY = '/apis/ferry.dev/v1/apply';

const fields = (res: Sent) => (res.json.details?.causes ?? []).map((c) => c.field);

let api: TestApi;
beforeEach(async () => {
  api = await startApi();
});

/** Sends the request and asserts it changed nothing in the store. */
async function refused(send: () => Promise<Sent>): Promise<Sent> {
  const before = await api.snapshot();
  const res = await send();
  expect(await api.snapshot()).toBe(before);
  return res;
}

describe('bounds (finding 1, Low: numbers without int32 bounds)', () => {
  it('refuses PATCH .../scale to 2^31 replicas with a 422 naming spec.replicas', async () => {
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 1) });
    const res = await refused(() =>
      api.send('PATCH', `${DEPLOYMENTS}/web/scale`, {
        body: { spec: { replicas: 2147483648 } },
        contentType: 'application/merge-patch+json',
      }),
    );
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.replicas']);
    expect(res.json.message).toContain('2147483647');
  });

  it('still scales to the largest int32', async () => {
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 1) });
    const res = await api.send('PATCH', `${DEPLOYMENTS}/web/scale`, {
      body: { spec: { replicas: 2147483647 } },
      contentType: 'application/merge-patch+json',
      query: { dryRun: 'All' },
    });
    expect(res.status).toBe(200);
  });

  it.each([1e15, 1e21, 2147483648])('refuses a dry-run Deployment with replicas %d', async (replicas) => {
    const res = await refused(() =>
      api.send('POST', DEPLOYMENTS, { body: deployment('web', replicas), query: { dryRun: 'All' } }),
    );
    expect(res.status).toBe(422);
    expect(fields(res)).toContain('spec.replicas');
  });

  it('refuses a Job backoffLimit of 9.2e18 and a Service targetPort of 1e308', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: {
        backoffLimit: 9.2e18,
        parallelism: 2147483648,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'x' }] } },
      },
    };
    const jobRes = await refused(() => api.send('POST', JOBS, { body: job }));
    expect(jobRes.status).toBe(422);
    expect(fields(jobRes)).toEqual(expect.arrayContaining(['spec.backoffLimit', 'spec.parallelism']));
    const svcRes = await refused(() =>
      api.send('POST', `${NS}/services`, { body: service('s', [{ port: 80, targetPort: 1e308 }]) }),
    );
    expect(svcRes.status).toBe(422);
    expect(fields(svcRes)).toContain('spec.ports[0].targetPort');
  });

  it('keeps int64 fields int64: terminationGracePeriodSeconds may exceed 2^31', async () => {
    const p = pod('p');
    (p.spec as Record<string, unknown>).terminationGracePeriodSeconds = 2 ** 40;
    expect((await api.send('POST', `${NS}/pods`, { body: p })).status).toBe(201);
  });
});

describe('node ports per Service (finding 12)', () => {
  const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));

  it('refuses a Service with 101 ports, so one tenant cannot take the node port range', async () => {
    const res = await refused(() => api.send('POST', `${NS}/services`, { body: service('big', ports(101)) }));
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.ports']);
    expect(res.json.message).toContain('must have at most 100 items');
  });

  it('accepts a Service with 100 ports', async () => {
    expect((await api.send('POST', `${NS}/services`, { body: service('big', ports(100)) })).status).toBe(201);
  });
});

describe('malformed Service ports (finding 13: two 500s)', () => {
  it.each<[string, unknown]>([
    ['a string', 'x'],
    ['an array holding null', [null]],
    ['an object', { port: 80 }],
    ['a port whose nodePort is a string', [{ port: 80, nodePort: '30000' }]],
  ])('answers 422, not 500, to a PUT whose ports is %s', async (_, bad) => {
    await api.send('POST', `${NS}/services`, { body: service('s') });
    const stored = (await api.send('GET', `${NS}/services/s`)).json;
    const res = await refused(() =>
      api.send('PUT', `${NS}/services/s`, {
        body: { ...stored, spec: { ...(stored.spec as object), ports: bad } },
      }),
    );
    expect(res.status).toBe(422);
    expect(fields(res).some((f) => f?.startsWith('spec.ports'))).toBe(true);
  });

  it.each<[string, unknown]>([
    ['a string', 'x'],
    ['an array holding null', [null]],
  ])('answers 422, not 500, to an apply whose Service ports is %s', async (_, bad) => {
    await api.send('POST', `${NS}/services`, { body: service('s') });
    const res = await refused(() =>
      api.send('POST', APPLY, { body: { ...service('s'), spec: { selector: { app: 's' }, ports: bad } } }),
    );
    expect(res.status).toBe(422);
    expect(res.json.message).toContain('spec.ports');
  });
});

describe('quantities (finding 14: negative requests over-commit nodes)', () => {
  const withRequests = (requests: Record<string, unknown>) => {
    const p = pod('p');
    (p.spec.containers[0] as Record<string, unknown>).resources = { requests, limits: requests };
    return p;
  };

  it.each<unknown>([-6, '-6', '-100m', '1e309', '99999999999999999999999Ei', '1e-400', '1e3Mi', 'abc', 1e300])(
    'refuses the cpu request %j with a 422 naming it',
    async (cpu) => {
      const res = await refused(() => api.send('POST', `${NS}/pods`, { body: withRequests({ cpu }) }));
      expect(res.status).toBe(422);
      expect(fields(res)).toContain('spec.containers[0].resources.requests[cpu]');
    },
  );

  it.each<unknown>(['100m', '1.5', 2, '128Mi', '1e3', '0', '1Ei', '.5'])('accepts the quantity %j', async (q) => {
    expect((await api.send('POST', `${NS}/pods`, { body: withRequests({ cpu: q, memory: q }) })).status).toBe(201);
  });
});

describe('label selectors (finding 7: one bad object stalls reconciliation)', () => {
  const withExpressions = (exprs: unknown[]) => {
    const d = deployment('web');
    (d.spec.selector as Record<string, unknown>).matchExpressions = exprs;
    return d;
  };

  it('refuses the operator "Foo" with a 422 listing the four operators', async () => {
    const res = await refused(() =>
      api.send('POST', DEPLOYMENTS, { body: withExpressions([{ key: 'tier', operator: 'Foo', values: ['a'] }]) }),
    );
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.selector.matchExpressions[0].operator']);
    expect(res.json.message).toContain('"In", "NotIn", "Exists", "DoesNotExist"');
  });

  it('refuses In without values, Exists with values and a bad value, each by field', async () => {
    const res = await refused(() =>
      api.send('POST', DEPLOYMENTS, {
        body: withExpressions([
          { key: 'a', operator: 'In', values: [] },
          { key: 'b', operator: 'Exists', values: ['x'] },
          { key: 'c', operator: 'NotIn', values: ['not a label value!'] },
        ]),
      }),
    );
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual([
      'spec.selector.matchExpressions[0].values',
      'spec.selector.matchExpressions[1].values',
      'spec.selector.matchExpressions[2].values[0]',
    ]);
  });

  it('refuses a bad operator in a Job selector too', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: {
        manualSelector: true,
        selector: { matchExpressions: [{ key: 'a', operator: 'Foo' }] },
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'x' }] } },
      },
    };
    const res = await refused(() => api.send('POST', JOBS, { body: job }));
    expect(fields(res)).toContain('spec.selector.matchExpressions[0].operator');
  });

  it('accepts every operator used as Kubernetes defines it', async () => {
    const d = withExpressions([
      { key: 'app', operator: 'In', values: ['web'] },
      { key: 'tier', operator: 'NotIn', values: ['db'] },
      { key: 'app', operator: 'Exists' },
      { key: 'legacy', operator: 'DoesNotExist' },
    ]);
    expect((await api.send('POST', DEPLOYMENTS, { body: d })).status).toBe(201);
  });
});

describe('Endpoints addresses (finding 10)', () => {
  const endpoints = (ip: string) => ({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'ext' },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 80 }] }],
  });

  it.each([
    '169.254.169.254',
    '127.0.0.1',
    '127.0.1.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'ff02::1',
    '::ffff:169.254.169.254',
    'not-an-ip',
    '10.0.0.300',
  ])('refuses a user-written Endpoints pointing at %s', async (ip) => {
    const res = await refused(() => api.send('POST', `${NS}/endpoints`, { body: endpoints(ip) }));
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['subsets[0].addresses[0].ip']);
  });

  it.each(['10.0.0.5', '192.168.1.20', '2001:db8::1', '::ffff:10.0.0.1'])('accepts %s', async (ip) => {
    expect((await api.send('POST', `${NS}/endpoints`, { body: endpoints(ip) })).status).toBe(201);
  });

  it('refuses them also when the Endpoints claims to be managed by ferry (the controller writes through the store)', async () => {
    const e = endpoints('127.0.1.2');
    (e.metadata as Record<string, unknown>).labels = {
      'endpointslice.kubernetes.io/managed-by': 'endpoints-controller.ferry.dev',
    };
    expect((await refused(() => api.send('POST', `${NS}/endpoints`, { body: e }))).status).toBe(422);
  });
});

describe('sizes after parsing (findings 4 and 5)', () => {
  it('refuses a 451 KB ConfigMap whose one value is aliased 99 times (45 MB expanded) with 413', async () => {
    const value = 'x'.repeat(451 * 1024);
    const keys = Array.from({ length: 99 }, (_, i) => `  k${i}: *v`).join('\n');
    const yaml = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  v: &v ${value}\n${keys}\n`;
    const started = Date.now();
    const res = await refused(() =>
      api.send('POST', `${NS}/configmaps`, { raw: yaml, contentType: 'application/yaml' }),
    );
    expect(res.status).toBe(413);
    expect(Date.now() - started).toBeLessThan(5_000);
    const applied = await refused(() => api.send('POST', APPLY, { raw: yaml, contentType: 'application/yaml' }));
    expect(applied.status).toBe(413);
  });

  it('answers a 1 KB JSON patch of 23 self-copies fast with 413, and the server keeps answering', async () => {
    await api.send('POST', `${NS}/configmaps`, { body: configMap('c', { a: 'x'.repeat(100) }) });
    const ops = [{ op: 'add', path: '/data/n', value: { a: 'x'.repeat(100) } }];
    for (let i = 0; i < 22; i++) ops.push({ op: 'copy', from: '/data/n', path: `/data/n/c${i}` } as never);
    const started = Date.now();
    const res = await refused(() =>
      api.send('PATCH', `${NS}/configmaps/c`, { body: ops, contentType: 'application/json-patch+json' }),
    );
    expect(res.status).toBe(413);
    expect(res.json.message).toMatch(/copies more than/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await api.send('GET', `${NS}/configmaps/c`)).status).toBe(200);
  });

  it('refuses a JSON patch of more than 10,000 operations', async () => {
    await api.send('POST', `${NS}/configmaps`, { body: configMap('c') });
    const ops = Array.from({ length: 10_001 }, () => ({ op: 'test', path: '/data/a', value: '1' }));
    const res = await refused(() =>
      api.send('PATCH', `${NS}/configmaps/c`, { body: ops, contentType: 'application/json-patch+json' }),
    );
    expect(res.status).toBe(413);
  });

  it('refuses a patch whose result is larger than 1.5 MiB, though the patch itself is small', async () => {
    await api.send('POST', `${NS}/configmaps`, { body: configMap('c', { a: 'x'.repeat(900 * 1024) }) });
    const res = await refused(() =>
      api.send('PATCH', `${NS}/configmaps/c`, {
        body: [{ op: 'copy', from: '/data/a', path: '/data/b' }],
        contentType: 'application/json-patch+json',
      }),
    );
    expect(res.status).toBe(413);
  });
});

describe('parsers linear in their input, authorization before parsing (finding 6)', () => {
  const manyKeys = (n: number) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\ndata:\n${Array.from({ length: n }, (_, i) => `  k${i}: v`).join('\n')}\n`;

  it("answers a bootstrap token's 40,000-key YAML apply with 403 without parsing it", async () => {
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const started = Date.now();
    const res = await refused(() =>
      api.send('POST', APPLY, { raw: manyKeys(40_000), contentType: 'application/yaml', token: bootstrap }),
    );
    expect(res.status).toBe(403);
    // The quadratic parse took 31 s before its 403; no parse at all is milliseconds.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it.each([
    ['POST', '/apis/ferry.dev/v1/apply'],
    ['POST', `${NS}/configmaps`],
    ['PUT', `${NS}/configmaps/many`],
    ['PATCH', `${NS}/configmaps/many`],
    ['DELETE', `${NS}/configmaps/many`],
    ['POST', '/apis/ferry.dev/v1/tokens'],
    ['POST', `${DEPLOYMENTS}/web/rollback`],
    ['PUT', `${DEPLOYMENTS}/web/scale`],
    ['PUT', '/api/v1/nodes/n1/status'],
  ])('answers a bootstrap token %s %s with a 40,000-key body by 403 before parsing', async (method, path) => {
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const started = Date.now();
    // Malformed at its end: a server that parsed before authorizing would answer 400.
    const res = await refused(() =>
      api.send(method, path, {
        raw: `${manyKeys(40_000)}  bad: [unclosed\n`,
        contentType: 'application/yaml',
        token: bootstrap,
      }),
    );
    expect(res.status).toBe(403);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('parses a 40,000-key YAML in linear time (the duplicate-key check is not quadratic)', async () => {
    const started = Date.now();
    const res = await api.send('POST', `${NS}/configmaps`, {
      raw: manyKeys(40_000),
      contentType: 'application/yaml',
      query: { dryRun: 'All' },
    });
    expect(res.status).toBe(201);
    // The quadratic check took 31 s on this input; linear is well under a second here.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a duplicate key in YAML with 400 naming the key and its line', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: "1"\n  a: "2"\n';
    const res = await refused(() =>
      api.send('POST', `${NS}/configmaps`, { raw: yaml, contentType: 'application/yaml' }),
    );
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/line 7, column 3: .*duplicate key "a"/);
  });

  it('refuses a duplicate key in JSON as in YAML, with 400 naming the key', async () => {
    const json = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","b":{"a":1},"a":"2"}}';
    const res = await refused(() =>
      api.send('POST', `${NS}/configmaps`, { raw: json, contentType: 'application/json' }),
    );
    expect(res.status).toBe(400);
    expect(res.json.message).toContain('duplicate key "a"');
  });

  it('does not take a repeated key in different objects, or an escaped one, for a duplicate', async () => {
    const json =
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","labels":{"a":"x"}},"data":{"a":"1","\\u0062":"2","s":"\\"a\\":"}}';
    expect((await api.send('POST', `${NS}/configmaps`, { raw: json })).status).toBe(201);
  });
});
