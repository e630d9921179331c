import { beforeEach, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness';

const INGS = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
const CLASSES = '/apis/networking.k8s.io/v1/ingressclasses';
const NETPOLS = '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies';

type Path = Record<string, unknown>;
const backend = (name: string, port: number | string = 80) => ({
  service: { name, port: typeof port === 'number' ? { number: port } : { name: port } },
});
const ingress = (name: string, rules: { host?: string; paths: Path[] }[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name },
  spec: { rules: rules.map((r) => ({ ...(r.host ? { host: r.host } : {}), http: { paths: r.paths } })), ...extra },
});
const path = (p: string, pathType: string | undefined, svc = 'web') => ({
  path: p,
  ...(pathType ? { pathType } : {}),
  backend: backend(svc),
});
const fields = (res: { json: { details?: { causes?: { field?: string }[] } } }) =>
  (res.json.details?.causes ?? []).map((c) => c.field);

describe('Ingress, IngressClass and NetworkPolicy through the API', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('stores a valid Ingress and prints kubectl columns CLASS HOSTS ADDRESS PORTS AGE', async () => {
    // act
    const res = await api.send('POST', INGS, {
      body: ingress(
        'shop',
        [{ host: 'shop.example.com', paths: [path('/', 'Prefix')] }, { paths: [path('/x', 'Exact')] }],
        {
          tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
        },
      ),
    });
    const table = await api.send('GET', INGS, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });

    // assess
    expect(res.status).toBe(201);
    const t = table.json as unknown as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Class', 'Hosts', 'Address', 'Ports', 'Age']);
    expect(t.rows[0]?.cells.slice(0, 5)).toEqual(['shop', '<none>', 'shop.example.com,*', '', '80, 443']);
  });

  it.each([
    ['a missing pathType', ingress('a', [{ paths: [path('/', undefined)] }]), 'spec.rules[0].http.paths[0].pathType'],
    ['a relative path', ingress('a', [{ paths: [path('api', 'Prefix')] }]), 'spec.rules[0].http.paths[0].path'],
    ['a path with //', ingress('a', [{ paths: [path('/a//b', 'Prefix')] }]), 'spec.rules[0].http.paths[0].path'],
    ['an encoded slash', ingress('a', [{ paths: [path('/a%2fb', 'Exact')] }]), 'spec.rules[0].http.paths[0].path'],
    ['a path ending in /..', ingress('a', [{ paths: [path('/a/..', 'Prefix')] }]), 'spec.rules[0].http.paths[0].path'],
    [
      'a CRLF in a path',
      ingress('a', [{ paths: [path('/a\r\nX-Evil: 1', 'Prefix')] }]),
      'spec.rules[0].http.paths[0].path',
    ],
    ['an IP host', ingress('a', [{ host: '10.0.0.1', paths: [path('/', 'Prefix')] }]), 'spec.rules[0].host'],
    [
      'a wildcard in the middle',
      ingress('a', [{ host: 'a.*.com', paths: [path('/', 'Prefix')] }]),
      'spec.rules[0].host',
    ],
    ['a bare * host', ingress('a', [{ host: '*', paths: [path('/', 'Prefix')] }]), 'spec.rules[0].host'],
    ['an upper-case host', ingress('a', [{ host: 'Foo.com', paths: [path('/', 'Prefix')] }]), 'spec.rules[0].host'],
    [
      'a host with a header in it',
      ingress('a', [{ host: 'a.com\r\nx: y', paths: [path('/', 'Prefix')] }]),
      'spec.rules[0].host',
    ],
    [
      'a 300-character host',
      ingress('a', [{ host: `${'a'.repeat(60)}.`.repeat(5), paths: [path('/', 'Prefix')] }]),
      'spec.rules[0].host',
    ],
    ['no rules and no default backend', { ...ingress('a', []), spec: {} }, 'spec'],
    [
      'a resource backend',
      ingress('a', [
        { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'Bucket', name: 'b' } } }] },
      ]),
      'spec.rules[0].http.paths[0].backend.resource',
    ],
    [
      'a port with both name and number',
      ingress('a', [
        {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'w', port: { name: 'http', number: 80 } } } },
          ],
        },
      ]),
      'spec.rules[0].http.paths[0].backend.service.port',
    ],
    [
      'a backend without a port',
      ingress('a', [{ paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'w' } } }] }]),
      'spec.rules[0].http.paths[0].backend.service.port',
    ],
    [
      'a bad TLS host',
      ingress('a', [{ paths: [path('/', 'Prefix')] }], { tls: [{ hosts: ['-x.com'] }] }),
      'spec.tls[0].hosts[0]',
    ],
  ])('refuses %s with a 422 naming the field, storing nothing', async (_what, body, field) => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', INGS, { body });

    // assess
    expect(res.status).toBe(422);
    expect(fields(res)).toContain(field);
    expect(await api.snapshot()).toBe(before);
  });

  it('accepts wildcard hosts and the three path types, ImplementationSpecific included', async () => {
    // act
    const res = await api.send('POST', INGS, {
      body: ingress('w', [
        {
          host: '*.foo.com',
          paths: [path('/a', 'Exact'), path('/b', 'Prefix'), path('/c', 'ImplementationSpecific')],
        },
      ]),
    });

    // assess
    expect(res.status).toBe(201);
  });

  it('stores an IngressClass, defaults its parameters scope, and refuses a change of controller', async () => {
    // act
    const created = await api.send('POST', CLASSES, {
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'other' },
        spec: { controller: 'example.com/ingress', parameters: { kind: 'Config', name: 'c' } },
      },
    });
    const changed = await api.send('PUT', `${CLASSES}/other`, {
      body: { ...created.json, spec: { controller: 'example.com/other' } },
    });
    const bad = await api.send('POST', CLASSES, {
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'x' },
        spec: { controller: 'no-slash' },
      },
    });
    const ours = await api.send('POST', CLASSES, {
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'tuned' },
        spec: { controller: 'ferry.dev/ingress', parameters: { kind: 'Config', name: 'c' } },
      },
    });

    // assess
    expect(ours.status).toBe(422);
    expect(fields(ours)).toEqual(['spec.parameters']);
    expect(created.status).toBe(201);
    expect((created.json.spec as { parameters: { scope: string } }).parameters.scope).toBe('Cluster');
    expect(changed.status).toBe(422);
    expect(fields(changed)).toContain('spec.controller');
    expect(bad.status).toBe(422);
    expect(fields(bad)).toContain('spec.controller');
  });

  it('stores a NetworkPolicy and answers every write with a Warning header that it is not enforced', async () => {
    // prepare
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny' },
      spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432 }] }] },
    };

    // act
    const created = await api.send('POST', NETPOLS, { body });
    const read = await api.send('GET', `${NETPOLS}/deny`);
    const replaced = await api.send('PUT', `${NETPOLS}/deny`, { body: read.json });

    // assess
    expect(created.status).toBe(201);
    expect(created.headers.warning).toMatch(/^299 - "ferry does not enforce NetworkPolicy yet/);
    expect(replaced.headers.warning).toMatch(/^299 - "ferry does not enforce NetworkPolicy/);
    expect(read.headers.warning).toBeUndefined();
    const spec = created.json.spec as { policyTypes: string[]; ingress: { ports: { protocol: string }[] }[] };
    expect(spec.policyTypes).toEqual(['Ingress']);
    expect(spec.ingress[0]?.ports[0]?.protocol).toBe('TCP');
  });

  it('refuses a NetworkPolicy with a bad selector operator, without a warning', async () => {
    // act
    const res = await api.send('POST', NETPOLS, {
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'x' },
        spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } },
      },
    });

    // assess
    expect(res.status).toBe(422);
    expect(fields(res)).toContain('spec.podSelector.matchExpressions[0].operator');
    expect(res.headers.warning).toBeUndefined();
  });

  it('warns that ingress-nginx annotations are not acted on, naming them', async () => {
    // act
    const res = await api.send('POST', INGS, {
      body: {
        ...ingress('n', [{ paths: [path('/', 'Prefix')] }]),
        metadata: {
          name: 'n',
          annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/$2', 'example.com/x': 'y' },
        },
      },
    });

    // assess
    expect(res.status).toBe(201);
    expect(res.headers.warning).toContain('nginx.ingress.kubernetes.io/rewrite-target');
    expect(res.headers.warning).not.toContain('example.com/x');
  });

  it('says the same in an apply bundle: NetworkPolicy not enforced, ingress-nginx annotations ignored', async () => {
    // act
    const res = await api.send('POST', '/apis/ferry.dev/v1/apply', {
      body: [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'p', namespace: 'default' },
          spec: { podSelector: {} },
        },
        {
          ...ingress('n', [{ paths: [path('/', 'Prefix')] }]),
          metadata: {
            name: 'n',
            namespace: 'default',
            annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'true' },
          },
        },
      ],
    });

    // assess
    expect(res.status).toBe(200);
    expect(res.headers.warning).toContain('ferry does not enforce NetworkPolicy yet');
    expect(res.headers.warning).toContain('nginx.ingress.kubernetes.io/ssl-redirect');
  });

  it('keeps answering 404 for kinds ferry does not know', async () => {
    // act
    const res = await api.send('GET', '/apis/networking.k8s.io/v1/namespaces/default/servicecidrs');

    // assess
    expect(res.status).toBe(404);
  });
});
