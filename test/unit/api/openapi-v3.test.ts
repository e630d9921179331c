import { beforeEach, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness';

type Rec = Record<string, unknown>;

/** The value at a path of keys in a parsed document. */
function dig(v: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Rec | undefined)?.[key], v);
}

describe('OpenAPI v3 as kubectl reads it', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  async function groupVersion(path: string): Promise<unknown> {
    const root = await api.send('GET', '/openapi/v3');
    const url = new URL(String(dig(root.json, 'paths', path, 'serverRelativeURL')), 'https://x');
    const res = await api.send('GET', url.pathname, { query: Object.fromEntries(url.searchParams) });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toContain('immutable');
    return res.json;
  }

  it('indexes one document per group-version served, each URL carrying its content hash', async () => {
    // act
    const root = await api.send('GET', '/openapi/v3');

    // assess
    const paths = root.json.paths as Rec;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining(['api/v1', 'apis/apps/v1', 'apis/batch/v1', 'apis/ferry.dev/v1']),
    );
    expect(dig(paths, 'apis/apps/v1', 'serverRelativeURL')).toMatch(
      /^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]{128}$/,
    );
  });

  it('offers fieldValidation on every PATCH, marked with its kind, so kubectl leaves validation to the server', async () => {
    // act
    const doc = await groupVersion('apis/apps/v1');

    // assess
    const patch = dig(doc, 'paths', '/apis/apps/v1/namespaces/{namespace}/deployments/{name}', 'patch') as Rec;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect((patch.parameters as Rec[]).map((p) => p.name)).toEqual(
      expect.arrayContaining(['fieldValidation', 'fieldManager', 'dryRun', 'force']),
    );
    expect(Object.keys(dig(patch, 'requestBody', 'content') as Rec)).toEqual(
      expect.arrayContaining(['application/strategic-merge-patch+json', 'application/apply-patch+yaml']),
    );
  });

  it('describes the lists the server merges by key with the patch strategy kubectl computes patches from', async () => {
    // act
    const doc = await groupVersion('apis/apps/v1');

    // assess
    const deployment = dig(doc, 'components', 'schemas', 'io.k8s.api.apps.v1.Deployment') as Rec;
    expect(deployment['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', version: 'v1', kind: 'Deployment' },
    ]);
    const podSpec = dig(deployment, 'properties', 'spec', 'properties', 'template', 'properties', 'spec', 'properties');
    const container = dig(podSpec, 'containers', 'items', 'properties');
    expect(dig(podSpec, 'containers', 'x-kubernetes-patch-merge-key')).toBe('name');
    expect(dig(podSpec, 'containers', 'x-kubernetes-patch-strategy')).toBe('merge');
    expect(dig(container, 'ports', 'x-kubernetes-patch-merge-key')).toBe('containerPort');
    expect(dig(container, 'command', 'x-kubernetes-patch-strategy')).toBeUndefined();
    expect(dig(deployment, 'properties', 'metadata', 'properties', 'finalizers', 'x-kubernetes-list-type')).toBe('set');
  });

  it('merges a Service port list on port, as the strategic merge patch does', async () => {
    // act
    const doc = await groupVersion('api/v1');

    // assess
    const service = dig(doc, 'components', 'schemas', 'io.k8s.api.core.v1.Service');
    expect(dig(service, 'properties', 'spec', 'properties', 'ports', 'x-kubernetes-patch-merge-key')).toBe('port');
  });

  it('serves /openapi/v2 without definitions, as protobuf to kubectl and as JSON otherwise', async () => {
    // act
    const pb = await api.send('GET', '/openapi/v2', {
      headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' },
    });
    const json = await api.send('GET', '/openapi/v2');

    // assess
    expect(pb.headers['content-type']).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    // swagger (field 1) "2.0", info (2) {title, version}, paths (8) and definitions (9) empty.
    expect([...Buffer.from(pb.body, 'utf8')]).toEqual([
      0x0a,
      3,
      ...Buffer.from('2.0'),
      0x12,
      11,
      0x0a,
      5,
      ...Buffer.from('ferry'),
      0x12,
      2,
      ...Buffer.from('v1'),
      0x42,
      0,
      0x4a,
      0,
    ]);
    expect(json.json).toEqual({ swagger: '2.0', info: { title: 'ferry', version: 'v1' }, paths: {}, definitions: {} });
  });

  it('answers 404 for a group-version it does not serve, and 405 for a write', async () => {
    // act
    const missing = await api.send('GET', '/openapi/v3/apis/nope.io/v1');
    const post = await api.send('POST', '/openapi/v3', { body: {} });

    // assess
    expect(missing.status).toBe(404);
    expect(post.status).toBe(405);
  });
});
