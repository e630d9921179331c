/**
 * Bad input gets a clear error and changes nothing: every case asserts the status code and that
 * the store (every kind, tokens included, and its revision) is byte-for-byte what it was.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { deployment, pod, type SendOptions, startApi, type TestApi } from './harness';

const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

function nested(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

interface Case {
  name: string;
  method: string;
  path: string;
  options: (api: TestApi) => Promise<SendOptions> | SendOptions;
  status: number;
  /** Checks on the message or causes beyond the status code. */
  expectBody?: (json: Record<string, unknown>, body: string) => void;
}

const causes = (json: Record<string, unknown>) =>
  (json.details as { causes?: { field?: string; message: string }[] } | undefined)?.causes ?? [];

const cases: Case[] = [
  {
    name: 'malformed YAML, naming the line',
    method: 'POST',
    path: PODS,
    options: () => ({
      raw: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n spec: [unclosed\n',
      contentType: 'application/yaml',
    }),
    status: 400,
    expectBody: (json) => expect(json.message).toMatch(/line 5, column \d+/),
  },
  {
    name: 'malformed JSON, naming the line',
    method: 'POST',
    path: PODS,
    options: () => ({ raw: '{\n  "apiVersion": "v1",\n  "kind": "Pod",,\n}', contentType: 'application/json' }),
    status: 400,
    expectBody: (json) => expect(json.message).toMatch(/malformed JSON at line 3, column \d+/),
  },
  {
    name: 'a schema violation, listing every field path',
    method: 'POST',
    path: DEPLOYMENTS,
    options: () => {
      const d = deployment('web');
      d.spec.replicas = -1;
      (d.spec.template.spec.containers[0] as { image?: string }).image = undefined;
      return { body: { ...d, spec: { ...d.spec, bogus: 1 } } };
    },
    status: 422,
    expectBody: (json) => {
      const fields = causes(json).map((c) => c.field);
      expect(fields).toEqual(
        expect.arrayContaining(['spec.replicas', 'spec.template.spec.containers[0].image', 'spec.bogus']),
      );
      expect(json.kind).toBe('Status');
      expect(json.reason).toBe('Invalid');
    },
  },
  {
    name: 'a 2 MiB body',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => ({
      raw: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'big' },
        data: { a: 'x'.repeat(2 * 1024 * 1024) },
      }),
    }),
    status: 413,
  },
  { name: 'an unknown route', method: 'GET', path: '/nothing/here', options: () => ({}), status: 404 },
  {
    name: 'an unknown kind',
    method: 'GET',
    path: '/api/v1/namespaces/default/frobnicators',
    options: () => ({}),
    status: 404,
  },
  {
    name: 'an unknown group',
    method: 'POST',
    path: '/apis/evil.io/v1/namespaces/default/things',
    options: () => ({ body: {} }),
    status: 404,
  },
  {
    name: 'a subresource the kind does not have',
    method: 'PUT',
    path: '/api/v1/namespaces/default/configmaps/c/status',
    options: () => ({ body: {} }),
    status: 404,
  },
  {
    name: 'a stale resourceVersion',
    method: 'PUT',
    path: `${PODS}/existing`,
    options: async (api) => {
      const current = await api.send('GET', `${PODS}/existing`);
      return { body: { ...current.json, metadata: { ...(current.json.metadata as object), resourceVersion: '1' } } };
    },
    status: 409,
  },
  { name: 'no token', method: 'POST', path: PODS, options: () => ({ body: pod('x'), token: null }), status: 401 },
  {
    name: 'a made-up token',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('x'), token: 'ferry_admin_AAAA' }),
    status: 401,
  },
  {
    name: 'a deployer writing to a namespace it was not given',
    method: 'POST',
    path: PODS,
    options: async (api) => ({ body: pod('x'), token: await api.token({ role: 'deployer', namespaces: ['team-a'] }) }),
    status: 403,
    expectBody: (json) => expect(json.message).toMatch(/role deployer.*namespaces team-a/),
  },
  {
    name: 'nesting deeper than 64 levels',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => ({ body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'deep' }, data: nested(100) } }),
    status: 400,
    expectBody: (json) => expect(json.message).toMatch(/nested deeper than 64/),
  },
  {
    name: 'pathological nesting that would overflow a recursive parser',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => ({ raw: `${'['.repeat(200_000)}${']'.repeat(200_000)}`, contentType: 'application/yaml' }),
    status: 400,
  },
  {
    name: 'a huge string in a label value',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('x', { labels: { app: 'y'.repeat(900_000) } }) }),
    status: 422,
    expectBody: (_json, body) => expect(body.length).toBeLessThan(20_000),
  },
  {
    name: 'a 900 KB name',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('a'.repeat(900_000)) }),
    status: 422,
    expectBody: (_json, body) => expect(body.length).toBeLessThan(20_000),
  },
  {
    name: 'a huge label key',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('x', { labels: { ['k'.repeat(500_000)]: 'v' } }) }),
    status: 422,
    expectBody: (_json, body) => expect(body.length).toBeLessThan(20_000),
  },
  {
    name: 'a __proto__ key',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => ({
      raw: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p","labels":{"__proto__":{"polluted":"yes"}}}}',
    }),
    status: 400,
    expectBody: (json) => expect(causes(json)[0]?.field).toBe('metadata.labels.__proto__'),
  },
  {
    name: 'a __proto__ key in YAML',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => ({
      raw: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\ndata:\n  constructor: x\n',
      contentType: 'application/yaml',
    }),
    status: 400,
  },
  {
    name: 'a JSON patch walking into __proto__',
    method: 'PATCH',
    path: `${PODS}/existing`,
    options: () => ({
      body: [{ op: 'add', path: '/metadata/__proto__', value: { polluted: 'yes' } }],
      contentType: 'application/json-patch+json',
    }),
    status: 400,
  },
  {
    name: 'bytes that are not UTF-8',
    method: 'POST',
    path: PODS,
    options: () => ({ raw: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }),
    status: 400,
    expectBody: (json) => expect(json.message).toMatch(/UTF-8/),
  },
  {
    name: 'a name that is not DNS-1123',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('Bad_Name!') }),
    status: 422,
    expectBody: (json) => expect(causes(json).map((c) => c.field)).toContain('metadata.name'),
  },
  {
    name: 'a name with a path separator',
    method: 'POST',
    path: PODS,
    options: () => ({ body: pod('../etc') }),
    status: 422,
  },
  {
    name: 'an unsupported content type',
    method: 'POST',
    path: PODS,
    options: () => ({ raw: '<pod/>', contentType: 'application/xml' }),
    status: 415,
  },
  {
    name: 'a body that is a list, not an object',
    method: 'POST',
    path: PODS,
    options: () => ({ body: [pod('x')] }),
    status: 400,
  },
  {
    name: 'a YAML billion-laughs alias bomb',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    options: () => {
      let yaml = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < 9; i++)
        yaml += `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]\n`;
      return { raw: yaml, contentType: 'application/yaml' };
    },
    status: 400,
  },
  {
    name: 'a volume name that would escape the pod directory on the node',
    method: 'POST',
    path: PODS,
    options: () => {
      const p = pod('vol') as ReturnType<typeof pod> & { spec: { volumes?: unknown[] } };
      p.spec.volumes = [{ name: '../../../etc', emptyDir: {} }];
      return { body: p };
    },
    status: 422,
    expectBody: (json) => expect(causes(json).map((c) => c.field)).toContain('spec.volumes[0].name'),
  },
  {
    name: 'configMap and secret volume items with paths outside the volume',
    method: 'POST',
    path: PODS,
    options: () => {
      const p = pod('items') as ReturnType<typeof pod> & { spec: { volumes?: unknown[] } };
      p.spec.volumes = [
        { name: 'a', configMap: { name: 'cm', items: [{ key: 'k', path: '../../root/.ssh/authorized_keys' }] } },
        { name: 'b', secret: { secretName: 's', items: [{ key: 'k', path: '/etc/shadow' }], defaultMode: 4096 } },
        { name: 'c', secret: {} },
      ];
      return { body: p };
    },
    status: 422,
    expectBody: (json) =>
      expect(causes(json).map((c) => c.field)).toEqual(
        expect.arrayContaining([
          'spec.volumes[0].configMap.items[0].path',
          'spec.volumes[1].secret.items[0].path',
          'spec.volumes[1].secret.defaultMode',
          'spec.volumes[2].secret.secretName',
        ]),
      ),
  },
  {
    name: 'ConfigMap and Secret keys that are not file names',
    method: 'POST',
    path: '/apis/ferry.dev/v1/apply',
    options: () => ({
      body: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { '../evil': 'x' } },
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { 'a/b': 'x', '..x': 'y' } },
      ],
    }),
    status: 422,
    expectBody: (_json, body) => {
      expect(body).toContain('data[../evil]');
      expect(body).toContain('stringData[a/b]');
      expect(body).toContain('stringData[..x]');
    },
  },
  {
    name: 'a Secret whose stringData carries a prototype key',
    method: 'POST',
    path: '/api/v1/namespaces/default/secrets',
    options: () => ({
      raw: '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"p"},"stringData":{"__proto__":"x"}}',
    }),
    status: 400,
  },
  {
    name: 'an invalid apply bundle',
    method: 'POST',
    path: '/apis/ferry.dev/v1/apply',
    options: () => ({ body: [pod('fine'), { ...pod('broken'), spec: { containers: [] } }] }),
    status: 422,
  },
];

describe('hostile and bad input', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi();
    await api.send('POST', PODS, { body: pod('existing') });
    await api.send('POST', DEPLOYMENTS, { body: deployment('web') });
  });

  it.each(cases)('answers $status to $name and changes nothing', async (c) => {
    // prepare
    const options = await c.options(api);
    const before = await api.snapshot();

    // act
    const res = await api.send(c.method, c.path, options);

    // assess
    expect(res.status).toBe(c.status);
    expect(res.json.kind).toBe('Status');
    expect(res.json.code).toBe(c.status);
    c.expectBody?.(res.json, res.body);
    expect(await api.snapshot()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('logs a 5xx with its details and answers without them', async () => {
    // prepare
    const broken = await startApi();
    broken.store.list = async () => {
      throw new Error('disk on fire at /var/lib/secret-path');
    };

    // act
    const res = await broken.send('GET', PODS);

    // assess
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('disk on fire');
    expect(broken.logs.some((l) => String(l.fields?.error).includes('disk on fire'))).toBe(true);
  });
});
