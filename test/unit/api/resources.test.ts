import { beforeEach, describe, expect, it } from 'vitest';
import { configMap, deployment, namespace, node, pod, startApi, type TestApi } from './harness';

const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

describe('resource routes', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('creates the default namespaces on first start', async () => {
    // act
    const res = await api.send('GET', '/api/v1/namespaces');

    // assess
    expect(res.status).toBe(200);
    expect(res.json.kind).toBe('NamespaceList');
    expect(res.json.items?.map((n) => (n.metadata as { name: string }).name)).toEqual([
      'default',
      'kube-node-lease',
      'kube-system',
    ]);
  });

  it('creates a pod with 201 and server-set metadata, then gets it', async () => {
    // act
    const created = await api.send('POST', PODS, { body: pod('web-1') });
    const got = await api.send('GET', `${PODS}/web-1`);

    // assess
    expect(created.status).toBe(201);
    const meta = created.json.metadata as Record<string, unknown>;
    expect(meta.uid).toEqual(expect.any(String));
    expect(meta.resourceVersion).toEqual(expect.any(String));
    expect(meta.creationTimestamp).toBe('2026-01-01T00:00:00Z');
    expect(got.status).toBe(200);
    expect(got.json).toEqual(created.json);
  });

  it('applies Kubernetes defaults on create', async () => {
    // act
    const res = await api.send('POST', DEPLOYMENTS, {
      body: { ...deployment('web'), spec: { ...deployment('web').spec, replicas: undefined } },
    });

    // assess
    expect(res.status).toBe(201);
    const spec = res.json.spec as { replicas: number; strategy: { type: string } };
    expect(spec.replicas).toBe(1);
    expect(spec.strategy.type).toBe('RollingUpdate');
  });

  it('takes the namespace from the URL when the body names none', async () => {
    // prepare
    const body = pod('p');
    delete (body.metadata as { namespace?: string }).namespace;

    // act
    const res = await api.send('POST', PODS, { body });

    // assess
    expect(res.status).toBe(201);
    expect((res.json.metadata as { namespace: string }).namespace).toBe('default');
  });

  it('generates a name from generateName', async () => {
    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'cfg-' }, data: {} },
    });

    // assess
    expect(res.status).toBe(201);
    expect((res.json.metadata as { name: string }).name).toMatch(/^cfg-[a-z0-9]{5}$/);
  });

  it('lists with a PodList kind and the store resourceVersion', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a') });
    await api.send('POST', PODS, { body: pod('b') });

    // act
    const res = await api.send('GET', PODS);

    // assess
    expect(res.status).toBe(200);
    expect(res.json.kind).toBe('PodList');
    expect(res.json.apiVersion).toBe('v1');
    expect(res.json.metadata?.resourceVersion).toEqual(expect.any(String));
    expect(res.json.items?.map((p) => (p.metadata as { name: string }).name)).toEqual(['a', 'b']);
  });

  it('lists a namespaced kind across all namespaces', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team-a') });
    await api.send('POST', PODS, { body: pod('a') });
    await api.send('POST', '/api/v1/namespaces/team-a/pods', { body: pod('b', { namespace: 'team-a' }) });

    // act
    const all = await api.send('GET', '/api/v1/pods');
    const one = await api.send('GET', '/api/v1/namespaces/team-a/pods');

    // assess
    expect(all.json.items).toHaveLength(2);
    expect(one.json.items?.map((p) => (p.metadata as { name: string }).name)).toEqual(['b']);
  });

  it('filters lists by label selector', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a', { labels: { app: 'web', tier: 'front' } }) });
    await api.send('POST', PODS, { body: pod('b', { labels: { app: 'db' } }) });

    // act
    const eq = await api.send('GET', PODS, { query: { labelSelector: 'app=web' } });
    const set = await api.send('GET', PODS, { query: { labelSelector: 'app in (web,db),!tier' } });
    const bad = await api.send('GET', PODS, { query: { labelSelector: 'app in (' } });

    // assess
    expect(eq.json.items?.map((p) => (p.metadata as { name: string }).name)).toEqual(['a']);
    expect(set.json.items?.map((p) => (p.metadata as { name: string }).name)).toEqual(['b']);
    expect(bad.status).toBe(400);
  });

  it('filters lists by field selector on name, namespace and spec.nodeName', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a', { nodeName: 'n1' }) });
    await api.send('POST', PODS, { body: pod('b', { nodeName: 'n2' }) });
    await api.send('POST', PODS, { body: pod('c') });

    // act
    const byNode = await api.send('GET', '/api/v1/pods', { query: { fieldSelector: 'spec.nodeName=n1' } });
    const unbound = await api.send('GET', PODS, { query: { fieldSelector: 'spec.nodeName=' } });
    const byName = await api.send('GET', PODS, {
      query: { fieldSelector: 'metadata.name!=a,metadata.namespace=default' },
    });
    const unsupported = await api.send('GET', PODS, { query: { fieldSelector: 'spec.containers=x' } });

    // assess
    const names = (r: typeof byNode) => r.json.items?.map((p) => (p.metadata as { name: string }).name);
    expect(names(byNode)).toEqual(['a']);
    expect(names(unbound)).toEqual(['c']);
    expect(names(byName)).toEqual(['b', 'c']);
    expect(unsupported.status).toBe(400);
  });

  it('pages a list with limit and continue', async () => {
    // prepare
    for (const n of ['a', 'b', 'c']) await api.send('POST', PODS, { body: pod(n) });

    // act
    const first = await api.send('GET', PODS, { query: { limit: '2' } });
    const rest = await api.send('GET', PODS, {
      query: { limit: '2', continue: String(first.json.metadata?.continue) },
    });

    // assess
    expect(first.json.items).toHaveLength(2);
    expect(first.json.metadata?.remainingItemCount).toBe(1);
    expect(rest.json.items?.map((p) => (p.metadata as { name: string }).name)).toEqual(['c']);
    expect(rest.json.metadata?.continue).toBeUndefined();
  });

  it('replaces an object with PUT and bumps generation on a spec change', async () => {
    // prepare
    const created = await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
    const body = { ...created.json, spec: { ...(created.json.spec as object), replicas: 5 } };

    // act
    const res = await api.send('PUT', `${DEPLOYMENTS}/web`, { body });

    // assess
    expect(res.status).toBe(200);
    expect((res.json.spec as { replicas: number }).replicas).toBe(5);
    expect((res.json.metadata as { generation: number }).generation).toBe(2);
    expect((res.json.metadata as { uid: string }).uid).toBe((created.json.metadata as { uid: string }).uid);
  });

  it('answers 409 to a PUT with a stale resourceVersion', async () => {
    // prepare
    const created = await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
    await api.send('PUT', `${DEPLOYMENTS}/web`, {
      body: { ...created.json, spec: { ...(created.json.spec as object), replicas: 4 } },
    });

    // act
    const stale = await api.send('PUT', `${DEPLOYMENTS}/web`, {
      body: { ...created.json, spec: { ...(created.json.spec as object), replicas: 9 } },
    });

    // assess
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe('Conflict');
    const now = await api.send('GET', `${DEPLOYMENTS}/web`);
    expect((now.json.spec as { replicas: number }).replicas).toBe(4);
  });

  it('answers 404 to a PUT or PATCH or DELETE of an object that does not exist', async () => {
    // act
    const put = await api.send('PUT', `${PODS}/nope`, { body: pod('nope') });
    const patch = await api.send('PATCH', `${PODS}/nope`, { body: {}, contentType: 'application/merge-patch+json' });
    const del = await api.send('DELETE', `${PODS}/nope`);
    const get = await api.send('GET', `${PODS}/nope`);

    // assess
    expect([put.status, patch.status, del.status, get.status]).toEqual([404, 404, 404, 404]);
    expect(get.json.message).toBe('pods "nope" not found');
    expect(get.json.kind).toBe('Status');
  });

  it('answers 409 AlreadyExists to a second create of the same name', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a') });

    // act
    const again = await api.send('POST', PODS, { body: pod('a') });

    // assess
    expect(again.status).toBe(409);
    expect(again.json.reason).toBe('AlreadyExists');
  });

  it('merge-patches labels and removes a key with null', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a', { labels: { app: 'web', old: 'x' } }) });

    // act
    const res = await api.send('PATCH', `${PODS}/a`, {
      body: { metadata: { labels: { tier: 'front', old: null } } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(200);
    expect((res.json.metadata as { labels: object }).labels).toEqual({ app: 'web', tier: 'front' });
  });

  it('accepts strategic merge patch as a merge patch and RFC 6902 JSON patch', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });

    // act
    const smp = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: { spec: { replicas: 4 } },
      contentType: 'application/strategic-merge-patch+json',
    });
    const jp = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: [
        { op: 'test', path: '/spec/replicas', value: 4 },
        { op: 'replace', path: '/spec/replicas', value: 6 },
      ],
      contentType: 'application/json-patch+json',
    });
    const failedTest = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: [{ op: 'test', path: '/spec/replicas', value: 1 }],
      contentType: 'application/json-patch+json',
    });
    const plainJson = await api.send('PATCH', `${DEPLOYMENTS}/web`, { body: { spec: { replicas: 1 } } });

    // assess
    expect((smp.json.spec as { replicas: number }).replicas).toBe(4);
    expect((jp.json.spec as { replicas: number }).replicas).toBe(6);
    expect(failedTest.status).toBe(400);
    expect(plainJson.status).toBe(400);
  });

  it('validates a patched object and rejects it with 422 naming the field', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
    const before = await api.snapshot();

    // act
    const res = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: { spec: { replicas: -1 } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain('spec.replicas');
    expect(await api.snapshot()).toBe(before);
  });

  it('answers 409 to a patch that pins a stale resourceVersion', async () => {
    // prepare
    const created = await api.send('POST', PODS, { body: pod('a') });
    await api.send('PATCH', `${PODS}/a`, {
      body: { metadata: { labels: { x: '1' } } },
      contentType: 'application/merge-patch+json',
    });

    // act
    const res = await api.send('PATCH', `${PODS}/a`, {
      body: {
        metadata: {
          resourceVersion: (created.json.metadata as { resourceVersion: string }).resourceVersion,
          labels: { x: '2' },
        },
      },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(409);
  });

  it('never changes status through the main resource', async () => {
    // prepare
    const created = await api.send('POST', PODS, { body: { ...pod('a'), status: { phase: 'Running' } } });
    await api.send('PUT', `${PODS}/a/status`, {
      body: { ...created.json, status: { phase: 'Running', podIP: '10.0.0.5' } },
    });
    const current = await api.send('GET', `${PODS}/a`);

    // act
    const put = await api.send('PUT', `${PODS}/a`, { body: { ...current.json, status: { phase: 'Failed' } } });
    const patch = await api.send('PATCH', `${PODS}/a`, {
      body: { status: { phase: 'Succeeded' }, metadata: { labels: { x: 'y' } } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect((created.json.status as { phase?: string } | undefined)?.phase).not.toBe('Running');
    expect(put.status).toBe(200);
    expect(put.json.status).toEqual(expect.objectContaining({ phase: 'Running', podIP: '10.0.0.5' }));
    expect(patch.status).toBe(200);
    expect(patch.json.status).toEqual(expect.objectContaining({ phase: 'Running', podIP: '10.0.0.5' }));
    expect((patch.json.metadata as { labels: object }).labels).toEqual({ x: 'y' });
  });

  it('changes only status through the status subresource', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
    const stored = await api.send('GET', `${DEPLOYMENTS}/web`);

    // act
    const put = await api.send('PUT', `${DEPLOYMENTS}/web/status`, {
      body: { ...stored.json, spec: { ...(stored.json.spec as object), replicas: 9 }, status: { replicas: 2 } },
    });
    const patch = await api.send('PATCH', `${DEPLOYMENTS}/web/status`, {
      body: { spec: { replicas: 7 }, metadata: { labels: { sneaky: 'yes' } }, status: { readyReplicas: 1 } },
      contentType: 'application/merge-patch+json',
    });
    const get = await api.send('GET', `${DEPLOYMENTS}/web/status`);

    // assess
    expect(put.status).toBe(200);
    expect((put.json.spec as { replicas: number }).replicas).toBe(3);
    expect(put.json.status).toEqual(expect.objectContaining({ replicas: 2 }));
    expect(patch.status).toBe(200);
    expect((patch.json.spec as { replicas: number }).replicas).toBe(3);
    expect((patch.json.metadata as { labels: object }).labels).toEqual({ app: 'web' });
    expect(patch.json.status).toEqual(expect.objectContaining({ replicas: 2, readyReplicas: 1 }));
    expect(get.json.status).toEqual(patch.json.status);
  });

  it('reads and writes replicas through the scale subresource', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });

    // act
    const get = await api.send('GET', `${DEPLOYMENTS}/web/scale`);
    const patch = await api.send('PATCH', `${DEPLOYMENTS}/web/scale`, {
      body: { spec: { replicas: 7 } },
      contentType: 'application/merge-patch+json',
    });
    const negative = await api.send('PATCH', `${DEPLOYMENTS}/web/scale`, {
      body: { spec: { replicas: -2 } },
      contentType: 'application/merge-patch+json',
    });
    const after = await api.send('GET', `${DEPLOYMENTS}/web`);

    // assess
    expect(get.json).toEqual(
      expect.objectContaining({ kind: 'Scale', spec: { replicas: 3 }, status: { replicas: 0, selector: 'app=web' } }),
    );
    expect(patch.status).toBe(200);
    expect(patch.json.spec).toEqual({ replicas: 7 });
    expect(negative.status).toBe(422);
    expect((after.json.spec as { replicas: number }).replicas).toBe(7);
  });

  it('validates status written through the status subresource', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
    const before = await api.snapshot();

    // act
    const res = await api.send('PATCH', `${DEPLOYMENTS}/web/status`, {
      body: { status: { replicas: 'many', bogus: true } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.some((c) => c.field?.startsWith('status.'))).toBe(true);
    expect(await api.snapshot()).toBe(before);
  });

  it('deletes an object with 200 and the object', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('c') });

    // act
    const del = await api.send('DELETE', '/api/v1/namespaces/default/configmaps/c');
    const get = await api.send('GET', '/api/v1/namespaces/default/configmaps/c');

    // assess
    expect(del.status).toBe(200);
    expect((del.json.metadata as { name: string }).name).toBe('c');
    expect(get.status).toBe(404);
  });

  it('honours a delete precondition on resourceVersion', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('c') });

    // act
    const res = await api.send('DELETE', '/api/v1/namespaces/default/configmaps/c', {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } },
    });

    // assess
    expect(res.status).toBe(409);
    expect((await api.send('GET', '/api/v1/namespaces/default/configmaps/c')).status).toBe(200);
  });

  it('marks a pod bound to a node as terminating and removes an unbound one at once', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('bound', { nodeName: 'n1' }) });
    await api.send('POST', PODS, { body: pod('loose') });

    // act
    const bound = await api.send('DELETE', `${PODS}/bound`);
    const loose = await api.send('DELETE', `${PODS}/loose`);

    // assess
    expect(bound.status).toBe(200);
    expect((bound.json.metadata as { deletionTimestamp?: string }).deletionTimestamp).toBeDefined();
    expect((await api.send('GET', `${PODS}/bound`)).status).toBe(200);
    expect(loose.status).toBe(200);
    expect((await api.send('GET', `${PODS}/loose`)).status).toBe(404);
  });

  it('serves cluster-scoped nodes without a namespace', async () => {
    // act
    const created = await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    const got = await api.send('GET', '/api/v1/nodes/n1');
    const list = await api.send('GET', '/api/v1/nodes');
    const namespaced = await api.send('GET', '/api/v1/namespaces/default/nodes/n1');

    // assess
    expect(created.status).toBe(201);
    expect((created.json.metadata as { namespace?: string }).namespace).toBeUndefined();
    expect(got.status).toBe(200);
    expect(list.json.kind).toBe('NodeList');
    expect(namespaced.status).toBe(404);
  });

  it('serves ferry.dev nodepools as a cluster-scoped collection', async () => {
    // act
    const list = await api.send('GET', '/apis/ferry.dev/v1/nodepools');

    // assess
    expect(list.status).toBe(200);
    expect(list.json.kind).toBe('NodePoolList');
  });

  it('refuses a body whose name or namespace disagrees with the URL', async () => {
    // prepare
    await api.send('POST', PODS, { body: pod('a') });
    const before = await api.snapshot();

    // act
    const wrongNs = await api.send('POST', PODS, { body: pod('b', { namespace: 'kube-system' }) });
    const wrongName = await api.send('PUT', `${PODS}/a`, { body: pod('b') });
    const wrongKind = await api.send('POST', PODS, { body: configMap('c') });
    const nsOnClusterKind = await api.send('POST', '/api/v1/nodes', {
      body: { ...node('n'), metadata: { name: 'n', namespace: 'default' } },
    });

    // assess
    expect([wrongNs.status, wrongName.status, wrongKind.status, nsOnClusterKind.status]).toEqual([400, 400, 400, 400]);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses to create into a namespace that does not exist', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/nowhere/pods', { body: pod('a', { namespace: 'nowhere' }) });

    // assess
    expect(res.status).toBe(404);
    expect(res.json.message).toBe('namespaces "nowhere" not found');
    expect(await api.snapshot()).toBe(before);
  });

  it('deletes the objects of a namespace with the namespace and protects the system ones', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team-a') });
    await api.send('POST', '/api/v1/namespaces/team-a/pods', {
      body: pod('p', { namespace: 'team-a', nodeName: 'n1' }),
    });
    await api.send('POST', '/api/v1/namespaces/team-a/configmaps', { body: configMap('c', {}, 'team-a') });
    await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('keep') });

    // act
    const del = await api.send('DELETE', '/api/v1/namespaces/team-a');
    const system = await api.send('DELETE', '/api/v1/namespaces/default');

    // assess
    expect(del.status).toBe(200);
    expect((await api.store.list('Pod', { namespace: 'team-a' })).items).toEqual([]);
    expect((await api.store.list('ConfigMap', { namespace: 'team-a' })).items).toEqual([]);
    expect((await api.store.list('ConfigMap')).items).toHaveLength(1);
    expect(system.status).toBe(403);
  });

  it('answers 405 to a verb a path does not support', async () => {
    // act
    const res = await api.send('DELETE', PODS);
    const createAll = await api.send('POST', '/api/v1/pods', { body: pod('a') });

    // assess
    expect(res.status).toBe(405);
    expect(createAll.status).toBe(405);
  });

  it('supports dryRun=All on create without writing', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', PODS, { body: pod('a'), query: { dryRun: 'All' } });

    // assess
    expect(res.status).toBe(201);
    expect(await api.snapshot()).toBe(before);
  });
});

describe('discovery and meta routes', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('answers /healthz and /version without a token', async () => {
    // act
    const health = await api.send('GET', '/healthz', { token: null });
    const version = await api.send('GET', '/version', { token: null });

    // assess
    expect(health.status).toBe(200);
    expect(health.body).toBe('ok');
    expect(version.status).toBe(200);
    expect(version.json.gitVersion).toBe('v0.1.0-test');
  });

  it('serves the OpenAPI document at /openapi.json, and the OpenAPI v3 index at /openapi/v3', async () => {
    // act
    const json = await api.send('GET', '/openapi.json');
    const v3 = await api.send('GET', '/openapi/v3');

    // assess
    expect(json.status).toBe(200);
    expect(String(json.json.openapi)).toMatch(/^3\./);
    expect(Object.keys(v3.json.paths as object)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1']));
  });

  it('serves the discovery documents kubectl reads', async () => {
    // act
    const api_ = await api.send('GET', '/api');
    const apis = await api.send('GET', '/apis');
    const core = await api.send('GET', '/api/v1');
    const apps = await api.send('GET', '/apis/apps/v1');
    const unknown = await api.send('GET', '/apis/nope/v1');

    // assess
    expect(api_.json).toEqual(expect.objectContaining({ kind: 'APIVersions', versions: ['v1'] }));
    const groups = (apis.json.groups as { name: string }[]).map((g) => g.name);
    expect(groups).toEqual(expect.arrayContaining(['apps', 'coordination.k8s.io', 'ferry.dev']));
    const coreResources = core.json.resources as { name: string; namespaced: boolean; kind: string }[];
    expect(coreResources).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'pods', namespaced: true, kind: 'Pod' })]),
    );
    expect(coreResources.map((r) => r.name)).toContain('pods/status');
    expect(apps.json.groupVersion).toBe('apps/v1');
    expect(unknown.status).toBe(404);
  });
});
