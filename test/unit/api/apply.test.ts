import { beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { configMap, deployment, namespace, startApi, type TestApi } from './harness';

const APPLY = '/apis/ferry.dev/v1/apply';

interface Item {
  kind: string;
  name: string;
  namespace?: string;
  action: string;
  diff?: string;
  object: { metadata: Record<string, unknown>; spec?: Record<string, unknown>; status?: unknown };
}

const yamlBundle = (...objs: unknown[]) => objs.map((o) => stringify(o)).join('---\n');

describe('apply', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  const apply = async (raw: string, query: Record<string, string> = {}, token?: string) => {
    const res = await api.send('POST', APPLY, {
      raw,
      contentType: 'application/yaml',
      query,
      ...(token ? { token } : {}),
    });
    return { ...res, items: (res.json.items ?? []) as unknown as Item[] };
  };

  it('creates every object of a multi-document YAML bundle', async () => {
    // act
    const res = await apply(yamlBundle(deployment('web'), configMap('cfg')));

    // assess
    expect(res.status).toBe(200);
    expect(res.json).toEqual(
      expect.objectContaining({ apiVersion: 'ferry.dev/v1', kind: 'ApplyResult', dryRun: false }),
    );
    expect(res.items.map((i) => [i.kind, i.name, i.namespace, i.action])).toEqual([
      ['Deployment', 'web', 'default', 'created'],
      ['ConfigMap', 'cfg', 'default', 'created'],
    ]);
    expect(res.items[0]?.object.metadata.uid).toEqual(expect.any(String));
    expect(res.items[0]?.diff).toMatch(/^\+ {2}replicas: 3$/m);
    expect(await api.store.get({ kind: 'Deployment', namespace: 'default', name: 'web' })).toBeDefined();
  });

  it('stores a Secret stringData in data, base64, and sees the same manifest as unchanged', async () => {
    // prepare
    const manifest = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db' },
      data: { user: Buffer.from('old').toString('base64'), host: Buffer.from('db.local').toString('base64') },
      stringData: { user: 'web', password: 'p@ss: "word"' },
    };
    const first = await apply(yamlBundle(manifest));

    // act
    const again = await apply(yamlBundle(manifest));

    // assess
    expect(first.items[0]?.action).toBe('created');
    const stored = (await api.store.get({ kind: 'Secret', namespace: 'default', name: 'db' })) as unknown as {
      data: Record<string, string>;
      stringData?: unknown;
      type: string;
    };
    expect(stored.stringData).toBeUndefined();
    expect(stored.type).toBe('Opaque');
    expect(
      Object.fromEntries(Object.entries(stored.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])),
    ).toEqual({ user: 'web', host: 'db.local', password: 'p@ss: "word"' });
    expect(again.items[0]?.action).toBe('unchanged');
  });

  it('reports unchanged when the same bundle is applied again', async () => {
    // prepare
    await apply(yamlBundle(deployment('web'), configMap('cfg')));
    const before = await api.snapshot();

    // act
    const res = await apply(yamlBundle(deployment('web'), configMap('cfg')));

    // assess
    expect(res.items.map((i) => i.action)).toEqual(['unchanged', 'unchanged']);
    expect(res.items[0]?.diff).toBeUndefined();
    expect(await api.snapshot()).toBe(before);
  });

  it('configures a changed object, replacing its spec and labels and keeping status and uid', async () => {
    // prepare
    const first = await apply(
      yamlBundle({ ...deployment('web', 3), metadata: { name: 'web', labels: { app: 'web', old: 'x' } } }),
    );
    await api.send('PATCH', '/apis/apps/v1/namespaces/default/deployments/web/status', {
      body: { status: { replicas: 3 } },
      contentType: 'application/merge-patch+json',
    });

    // act
    const res = await apply(yamlBundle(deployment('web', 5)));

    // assess
    const item = res.items[0] as Item;
    expect(item.action).toBe('configured');
    expect(item.diff).toMatch(/^- {2}replicas: 3$/m);
    expect(item.diff).toMatch(/^\+ {2}replicas: 5$/m);
    expect(item.diff).toMatch(/^--- live\/deployments\.apps\/default\/web$/m);
    expect(item.object.spec?.replicas).toBe(5);
    expect(item.object.metadata.labels).toEqual({ app: 'web' });
    expect(item.object.status).toEqual(expect.objectContaining({ replicas: 3 }));
    expect(item.object.metadata.uid).toBe(first.items[0]?.object.metadata.uid);
    expect(item.object.metadata.generation).toBe(2);
  });

  it('validates and diffs without writing on dryRun=All', async () => {
    // prepare
    await apply(yamlBundle(deployment('web', 3)));
    const before = await api.snapshot();

    // act
    const res = await apply(yamlBundle(deployment('web', 5), configMap('new')), { dryRun: 'All' });

    // assess
    expect(res.status).toBe(200);
    expect(res.json.dryRun).toBe(true);
    expect(res.items.map((i) => i.action)).toEqual(['configured', 'created']);
    expect(res.items[0]?.diff).toMatch(/^\+ {2}replicas: 5$/m);
    expect(await api.snapshot()).toBe(before);
  });

  it('writes nothing when any object is invalid and names each one by document', async () => {
    // prepare
    const bad = deployment('broken');
    bad.spec.replicas = -1;
    const before = await api.snapshot();

    // act
    const res = await apply(
      yamlBundle(configMap('fine'), bad, { apiVersion: 'v1', kind: 'Frobnicator', metadata: { name: 'x' } }),
    );

    // assess
    expect(res.status).toBe(422);
    const fields = res.json.details?.causes?.map((c) => c.field);
    expect(fields).toContain('[1] Deployment default/broken: spec.replicas');
    expect(fields).toContain('[2] kind');
    expect(res.json.message).toMatch(/nothing was applied/);
    expect(await api.snapshot()).toBe(before);
  });

  it('creates a namespace and the objects in it in one bundle, namespaces first', async () => {
    // act
    const res = await apply(yamlBundle(configMap('cfg', {}, 'team-b'), namespace('team-b')));

    // assess
    expect(res.status).toBe(200);
    expect(res.items.map((i) => [i.kind, i.action])).toEqual([
      ['ConfigMap', 'created'],
      ['Namespace', 'created'],
    ]);
  });

  it('refuses objects into a namespace that does not exist', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await apply(yamlBundle(configMap('cfg', {}, 'nowhere')));

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.message).toBe('namespace "nowhere" does not exist');
    expect(await api.snapshot()).toBe(before);
  });

  it('accepts JSON: one object, an array, or a v1 List', async () => {
    // act
    const one = await api.send('POST', APPLY, { body: configMap('a') });
    const array = await api.send('POST', APPLY, { body: [configMap('b'), configMap('c')] });
    const list = await api.send('POST', APPLY, { body: { apiVersion: 'v1', kind: 'List', items: [configMap('d')] } });

    // assess
    expect([one.status, array.status, list.status]).toEqual([200, 200, 200]);
    expect((await api.store.list('ConfigMap')).items).toHaveLength(4);
  });

  it('refuses a bundle that names one object twice', async () => {
    // act
    const res = await apply(yamlBundle(configMap('a'), configMap('a', { b: '2' })));

    // assess
    expect(res.status).toBe(422);
  });

  it('authorizes every object and writes nothing when any is forbidden', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team-a') });
    const deployer = await api.token({ role: 'deployer', namespaces: ['team-a'] });
    const before = await api.snapshot();

    // act
    const res = await apply(
      yamlBundle(configMap('ok', {}, 'team-a'), configMap('denied', {}, 'default')),
      {},
      deployer,
    );
    const afterForbidden = await api.snapshot();
    const allowed = await apply(yamlBundle(configMap('ok', {}, 'team-a')), {}, deployer);

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/\[1\] ConfigMap default\/denied/);
    expect(allowed.status).toBe(200);
    expect(afterForbidden).toBe(before);
  });

  it('refuses a reader', async () => {
    // prepare
    const reader = await api.token({ role: 'reader' });

    // act
    const res = await apply(yamlBundle(configMap('a')), {}, reader);

    // assess
    expect(res.status).toBe(403);
  });

  it('names the line of malformed YAML in a bundle', async () => {
    // act
    const res = await apply(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: ConfigMap\n  data: [unclosed\nmetadata: {}\n',
    );

    // assess
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/line 6/);
  });

  it('refuses dryRun values other than All', async () => {
    // act
    const res = await apply(yamlBundle(configMap('a')), { dryRun: 'yes' });

    // assess
    expect(res.status).toBe(400);
  });
});
