import { beforeEach, describe, expect, it } from 'vitest';
import { ensureAdminToken } from '../../../functions/api';
import { hashSecret } from '../../../functions/tokens';
import { configMap, namespace, node, pod, secret, startApi, type TestApi } from './harness';

const TOKENS = '/apis/ferry.dev/v1/tokens';

describe('authentication', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('issues the first admin token only on an empty store', async () => {
    // act
    const again = await ensureAdminToken(api.deps);

    // assess
    expect(api.admin).toMatch(/^ferry_admin_[A-Za-z0-9_-]{43}$/);
    expect(again).toBeUndefined();
  });

  it('stores only the sha256 of the secret', async () => {
    // act
    const record = await api.store.get({ kind: 'Token', name: 'admin' });

    // assess
    const secret = api.admin.slice('ferry_admin_'.length);
    expect(record?.secretHash).toBe(hashSecret(secret));
    expect(JSON.stringify(record)).not.toContain(secret);
  });

  it('answers 401 without a token, with a malformed header and with a wrong secret', async () => {
    // act
    const none = await api.send('GET', '/api/v1/pods', { token: null });
    const basic = await api.send('GET', '/api/v1/pods', {
      token: null,
      headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
    });
    const wrong = await api.send('GET', '/api/v1/pods', { token: `${api.admin.slice(0, -2)}xx` });

    // assess
    expect([none.status, basic.status, wrong.status]).toEqual([401, 401, 401]);
    expect(none.json.reason).toBe('Unauthorized');
  });

  it('answers 401 to an expired token', async () => {
    // prepare
    const token = await api.token({ role: 'reader', ttlSeconds: 60 });
    const fresh = await api.send('GET', '/api/v1/pods', { token });

    // act
    api.now.ms += 61_000;
    const expired = await api.send('GET', '/api/v1/pods', { token });

    // assess
    expect(fresh.status).toBe(200);
    expect(expired.status).toBe(401);
  });

  it('creates, lists and revokes tokens through the API, showing the secret only once', async () => {
    // act
    const created = await api.send('POST', TOKENS, {
      body: {
        apiVersion: 'ferry.dev/v1',
        kind: 'Token',
        metadata: { name: 'ci' },
        spec: { role: 'deployer', namespaces: ['default'], description: 'ci', ttlSeconds: 3600 },
      },
    });
    const plaintext = (created.json.status as { token: string }).token;
    const usable = await api.send('GET', '/api/v1/namespaces/default/pods', { token: plaintext });
    const list = await api.send('GET', TOKENS);
    const revoked = await api.send('DELETE', `${TOKENS}/ci`);
    const after = await api.send('GET', '/api/v1/namespaces/default/pods', { token: plaintext });

    // assess
    expect(created.status).toBe(201);
    expect(plaintext).toMatch(/^ferry_ci_/);
    expect(created.json.status).toEqual(expect.objectContaining({ expirationTimestamp: '2026-01-01T01:00:00Z' }));
    expect(created.body).not.toContain('secretHash');
    expect(usable.status).toBe(200);
    expect(list.json.kind).toBe('TokenList');
    expect(list.json.items?.map((t) => (t.metadata as { name: string }).name).sort()).toEqual(['admin', 'ci']);
    expect(list.body).not.toContain('secretHash');
    expect(list.body).not.toContain(plaintext.slice(-20));
    expect(revoked.status).toBe(200);
    expect(after.status).toBe(401);
  });

  it('rejects an invalid token request with 422 and every cause', async () => {
    // act
    const res = await api.send('POST', TOKENS, {
      body: {
        apiVersion: 'ferry.dev/v1',
        kind: 'Token',
        metadata: { name: 'Bad_Name' },
        spec: { role: 'deployer', extra: 1 },
      },
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field).sort()).toEqual([
      'metadata.name',
      'spec.extra',
      'spec.namespaces',
    ]);
  });

  it('never serves tokens through the generic resource routes', async () => {
    // act
    const res = await api.send('GET', '/apis/ferry.dev/v1/namespaces/default/tokens');

    // assess
    expect(res.status).toBe(404);
  });

  it('never logs tokens or Authorization headers', async () => {
    // prepare
    api.store.get = async () => {
      throw new Error('boom');
    };

    // act
    await api.send('GET', '/api/v1/namespaces/default/pods/x');

    // assess
    expect(api.logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(api.logs)).not.toContain(api.admin);
  });
});

describe('authorization matrix', () => {
  let api: TestApi;
  let deployer: string;
  let reader: string;
  let bootstrap: string;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team-a') });
    await api.send('POST', '/api/v1/namespaces/team-a/secrets', { body: secret('s', 'team-a') });
    await api.send('POST', '/api/v1/namespaces/default/secrets', { body: secret('s') });
    await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    deployer = await api.token({ role: 'deployer', namespaces: ['team-a'] });
    reader = await api.token({ role: 'reader' });
    bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
  });

  const cases: {
    who: 'admin' | 'deployer' | 'reader' | 'bootstrap';
    method: string;
    path: string;
    body?: unknown;
    status: number;
  }[] = [
    { who: 'admin', method: 'POST', path: '/api/v1/namespaces/default/pods', body: pod('a'), status: 201 },
    {
      who: 'deployer',
      method: 'POST',
      path: '/api/v1/namespaces/team-a/pods',
      body: pod('a', { namespace: 'team-a' }),
      status: 201,
    },
    { who: 'deployer', method: 'POST', path: '/api/v1/namespaces/default/pods', body: pod('a'), status: 403 },
    { who: 'deployer', method: 'GET', path: '/api/v1/namespaces/team-a/secrets/s', status: 200 },
    { who: 'deployer', method: 'GET', path: '/api/v1/namespaces/default/secrets/s', status: 403 },
    { who: 'deployer', method: 'GET', path: '/api/v1/nodes', status: 200 },
    { who: 'deployer', method: 'GET', path: '/api/v1/namespaces', status: 200 },
    { who: 'deployer', method: 'POST', path: '/api/v1/nodes', body: node('n2'), status: 403 },
    { who: 'deployer', method: 'GET', path: '/api/v1/pods', status: 403 },
    { who: 'deployer', method: 'GET', path: TOKENS, status: 403 },
    { who: 'deployer', method: 'GET', path: '/apis/apps/v1', status: 200 },
    { who: 'reader', method: 'GET', path: '/api/v1/pods', status: 200 },
    { who: 'reader', method: 'GET', path: '/api/v1/namespaces/default/configmaps', status: 200 },
    { who: 'reader', method: 'GET', path: '/api/v1/namespaces/default/secrets/s', status: 403 },
    { who: 'reader', method: 'GET', path: '/api/v1/secrets', status: 403 },
    { who: 'reader', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: configMap('c'), status: 403 },
    { who: 'reader', method: 'DELETE', path: '/api/v1/nodes/n1', status: 403 },
    { who: 'reader', method: 'POST', path: TOKENS, body: { spec: { role: 'admin' } }, status: 403 },
    { who: 'bootstrap', method: 'GET', path: '/api/v1/pods', status: 403 },
    { who: 'bootstrap', method: 'GET', path: '/api', status: 403 },
  ];

  it.each(cases)('$who $method $path -> $status', async (c) => {
    // prepare
    const token = { admin: api.admin, deployer, reader, bootstrap }[c.who];
    const before = await api.snapshot();

    // act
    const res = await api.send(c.method, c.path, { token, ...(c.body !== undefined ? { body: c.body } : {}) });

    // assess
    expect(res.status).toBe(c.status);
    if (c.status === 403) {
      expect(res.json.message).toContain(`(role ${c.who})`);
      expect(await api.snapshot()).toBe(before);
    }
  });

  it('explains in a 403 what the role may do', async () => {
    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/configmaps', {
      token: reader,
      body: configMap('c'),
    });

    // assess
    expect(res.json.message).toMatch(
      /may not create configmap.* in namespace "default".*a reader may read every object except Secrets/,
    );
  });
});

describe('node tokens', () => {
  let api: TestApi;
  let nodeToken: string;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    await api.send('POST', '/api/v1/nodes', { body: node('n2') });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('mine', { nodeName: 'n1' }) });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('theirs', { nodeName: 'n2' }) });
    nodeToken = await api.token({ role: 'node', nodeName: 'n1' });
  });

  it('reads its own node and pods and nothing else', async () => {
    // act
    const own = await api.send('GET', '/api/v1/nodes/n1', { token: nodeToken });
    const other = await api.send('GET', '/api/v1/nodes/n2', { token: nodeToken });
    const ownPods = await api.send('GET', '/api/v1/pods', {
      token: nodeToken,
      query: { fieldSelector: 'spec.nodeName=n1' },
    });
    const allPods = await api.send('GET', '/api/v1/pods', { token: nodeToken });
    const mine = await api.send('GET', '/api/v1/namespaces/default/pods/mine', { token: nodeToken });
    const theirs = await api.send('GET', '/api/v1/namespaces/default/pods/theirs', { token: nodeToken });

    // assess
    expect([own.status, other.status, ownPods.status, allPods.status, mine.status, theirs.status]).toEqual([
      200, 403, 200, 403, 200, 403,
    ]);
    expect(ownPods.json.items).toHaveLength(1);
  });

  it('writes the status of its own pods only', async () => {
    // act
    const mine = await api.send('PATCH', '/api/v1/namespaces/default/pods/mine/status', {
      token: nodeToken,
      body: { status: { phase: 'Running' } },
      contentType: 'application/merge-patch+json',
    });
    const theirs = await api.send('PATCH', '/api/v1/namespaces/default/pods/theirs/status', {
      token: nodeToken,
      body: { status: { phase: 'Running' } },
      contentType: 'application/merge-patch+json',
    });
    const spec = await api.send('PATCH', '/api/v1/namespaces/default/pods/mine', {
      token: nodeToken,
      body: { metadata: { labels: { x: 'y' } } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect([mine.status, theirs.status, spec.status]).toEqual([200, 403, 403]);
  });
});
