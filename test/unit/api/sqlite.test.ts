/**
 * A few API paths against the SQLite backend, to catch anything the MemoryStore lets through
 * (copies, revisions, conflicts, writes by another process sharing the file).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../../functions/store';
import { configMap, deployment, pod, startApi, T0, type TestApi } from './harness';

describe('the API on SQLite', () => {
  let api: TestApi;
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-api-sqlite-'));
    api = await startApi(await openStore({ backend: 'sqlite', path: join(dir, 'ferry.db'), clock: () => T0 }));
  });

  afterEach(async () => {
    await api.store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a token revoked by another process sharing the file stops working within a second', async () => {
    const ci = await api.token({ name: 'ci', role: 'reader' });
    const before = await api.send('GET', '/api/v1/namespaces/default/pods', { token: ci });
    const other = await openStore({ backend: 'sqlite', path: join(dir, 'ferry.db'), clock: () => T0 });
    await other.delete({ kind: 'Token', name: 'ci' });
    await other.close();
    const withinTtl = await api.send('GET', '/api/v1/namespaces/default/pods', { token: ci });
    api.now.ms += 1_001;
    const after = await api.send('GET', '/api/v1/namespaces/default/pods', { token: ci });

    expect(before.status).toBe(200);
    // Verified tokens are cached for a second (functions/api/auth.ts TokenCache); a revocation
    // through this process clears the cache at once (auth.test.ts), one through another within TTL.
    expect(withinTtl.status).toBe(200);
    expect(after.status).toBe(401);
  });

  it('creates, lists, patches and deletes', async () => {
    // act
    const created = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: pod('a', { labels: { app: 'web' } }),
    });
    const listed = await api.send('GET', '/api/v1/namespaces/default/pods', { query: { labelSelector: 'app=web' } });
    const patched = await api.send('PATCH', '/api/v1/namespaces/default/pods/a', {
      body: { metadata: { labels: { app: 'api' } } },
      contentType: 'application/merge-patch+json',
    });
    const deleted = await api.send('DELETE', '/api/v1/namespaces/default/pods/a');

    // assess
    expect(created.status).toBe(201);
    expect(listed.json.items).toHaveLength(1);
    expect(patched.status).toBe(200);
    expect(deleted.status).toBe(200);
  });

  it('answers 409 to a stale resourceVersion', async () => {
    // prepare
    const created = await api.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: deployment('web') });
    await api.send('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', {
      body: { spec: { replicas: 2 } },
      contentType: 'application/merge-patch+json',
    });
    const before = await api.snapshot();

    // act
    const res = await api.send('PUT', '/apis/apps/v1/namespaces/default/deployments/web', { body: created.json });

    // assess
    expect(res.status).toBe(409);
    expect(await api.snapshot()).toBe(before);
  });

  it('applies all or nothing', async () => {
    // prepare
    const bad = deployment('bad');
    bad.spec.replicas = -3;
    const before = await api.snapshot();

    // act
    const rejected = await api.send('POST', '/apis/ferry.dev/v1/apply', { body: [configMap('ok'), bad] });
    const afterRejected = await api.snapshot();
    const accepted = await api.send('POST', '/apis/ferry.dev/v1/apply', {
      body: [configMap('ok'), deployment('good')],
    });
    const again = await api.send('POST', '/apis/ferry.dev/v1/apply', { body: [configMap('ok'), deployment('good')] });

    // assess
    expect(rejected.status).toBe(422);
    expect(afterRejected).toBe(before);
    expect(accepted.status).toBe(200);
    expect((again.json.items as { action: string }[]).map((i) => i.action)).toEqual(['unchanged', 'unchanged']);
  });
});
