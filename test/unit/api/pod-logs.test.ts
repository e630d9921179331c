/**
 * `GET .../pods/{name}/log` relayed through the store to the pod's node: the node's held sync wakes
 * with the request, its answer comes back to the caller as text/plain, and only that node may answer.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { LogRequestRef } from '../../../schemas/agent-protocol';
import { pod, startApi, type TestApi } from './harness';

const REGISTER = '/agent/v1/register';
const SYNC = '/agent/v1/sync';
const STATUS = { capacity: { cpu: '2', memory: '4Gi', pods: '110' } };
const LOG = '/api/v1/namespaces/default/pods/web/log';

describe('pod logs', () => {
  let api: TestApi;
  let n1: string;
  let n2: string;

  beforeEach(async () => {
    api = await startApi();
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600, maxUses: 2 });
    const reg = async (nodeName: string) =>
      String((await api.send('POST', REGISTER, { token: bootstrap, body: { nodeName, status: STATUS } })).json.token);
    n1 = await reg('n1');
    n2 = await reg('n2');
    const web = pod('web', { nodeName: 'n1' });
    web.spec.containers.push({ name: 'sidecar', image: 'ferry.local/busybox:1' });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: web });
  });

  /** Plays n1's agent: a held sync that returns with the request. */
  async function nextRequest(token: string): Promise<LogRequestRef> {
    const first = await api.send('POST', SYNC, { token, body: {} });
    if ((first.json.logRequests as LogRequestRef[] | undefined)?.length)
      return (first.json.logRequests as LogRequestRef[])[0] as LogRequestRef;
    const held = await api.send('POST', SYNC, {
      token,
      body: { versions: first.json.versions, leaseRenewedAt: first.json.leaseRenewedAt, waitSeconds: 5 },
    });
    const req = (held.json.logRequests as LogRequestRef[] | undefined)?.[0];
    if (!req) throw new Error('no log request reached the node');
    return req;
  }

  it("returns the node's answer as text/plain and leaves no request behind", async () => {
    // prepare
    const reader = await api.token({ role: 'reader' });

    // act
    const call = api.send('GET', LOG, {
      token: reader,
      query: { container: 'app', tailLines: '20', previous: 'true' },
    });
    const req = await nextRequest(n1);
    const answered = await api.send('POST', '/agent/v1/logs', {
      token: n1,
      body: { namespace: req.namespace, name: req.name, content: 'line 1\nline 2\n' },
    });
    const res = await call;

    // assess
    expect(req).toMatchObject({ container: 'app', tailLines: 20, previous: true, pod: { name: 'web' } });
    expect(answered.status).toBe(200);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toBe('line 1\nline 2\n');
    expect((await api.store.list('LogRequest')).items).toEqual([]);
  });

  it.each([
    [{ follow: 'true' }, 'follow, since and timestamps need a connection the server holds open'],
    [{ timestamps: 'true' }, 'AWS Lambda cannot hold one'],
    [{ sinceSeconds: '60' }, 'use --tail'],
    [{ sinceTime: '2026-01-01T00:00:00Z' }, 'AWS Lambda cannot hold one'],
    [{ sinceTime: 'yesterday' }, 'sinceTime: must be an RFC 3339 time'],
    [{ sinceSeconds: '0' }, 'sinceSeconds: must be an integer >= 1'],
    [{ sinceSeconds: '5', sinceTime: '2026-01-01T00:00:00Z' }, 'at most one of sinceTime or sinceSeconds'],
    [{ follow: 'yes' }, 'follow: must be true or false'],
  ])(
    'refuses %j with a 400 saying why where the server holds no connections (Lambda), and asks no node',
    async (query, named) => {
      // act
      const res = await api.send('GET', LOG, { query: { container: 'app', ...query } });

      // assess
      expect(res.status).toBe(400);
      expect(res.json.message).toContain(named);
      expect((await api.store.list('LogRequest')).items).toEqual([]);
    },
  );

  it("refuses another node's answer, and passes the node's error on as a 400", async () => {
    // act
    const call = api.send('GET', LOG, { query: { container: 'sidecar' } });
    const req = await nextRequest(n1);
    const hijack = await api.send('POST', '/agent/v1/logs', {
      token: n2,
      body: { namespace: req.namespace, name: req.name, content: 'forged' },
    });
    await api.send('POST', '/agent/v1/logs', {
      token: n1,
      body: { namespace: req.namespace, name: req.name, error: 'previous terminated container "sidecar" not found' },
    });
    const res = await call;

    // assess
    expect(hijack.status).toBe(403);
    expect(res.status).toBe(400);
    expect(res.json.message).toBe('previous terminated container "sidecar" not found');
  });

  it.each([
    [{}, /a container name must be specified for pod web, choose one of: \[app sidecar\]/],
    [{ container: 'db' }, /container db is not valid for pod web/],
    [{ container: 'app', tailLines: '-1' }, /^tailLines: must be an integer >= 0/],
    [{ container: 'app', limitBytes: '1e9' }, /^limitBytes: must be an integer >= 1/],
    [{ container: 'app', previous: 'yes' }, /^previous: must be true or false/],
  ])('rejects %j with 400 naming the parameter, writing nothing', async (query, message) => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('GET', LOG, { query: query as Record<string, string> });

    // assess
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(message);
    expect(await api.snapshot()).toBe(before);
    expect((await api.store.list('LogRequest')).items).toEqual([]);
  });

  it('does not let a node credential read logs, nor a deployer of another namespace', async () => {
    // prepare
    const deployer = await api.token({ role: 'deployer', namespaces: ['other'] });

    // act
    const asNode = await api.send('GET', LOG, { token: n1, query: { container: 'app' } });
    const asDeployer = await api.send('GET', LOG, { token: deployer, query: { container: 'app' } });
    const missing = await api.send('GET', '/api/v1/namespaces/default/pods/nope/log');

    // assess
    expect(asNode.status).toBe(403);
    expect(asDeployer.status).toBe(403);
    expect(missing.status).toBe(404);
  });

  it('drops a request whose caller is long gone at the next sync', async () => {
    // prepare
    await api.store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'LogRequest',
      metadata: { namespace: 'default', name: 'web.stale' },
      spec: {
        nodeName: 'n1',
        pod: { namespace: 'default', name: 'web', uid: 'x' },
        container: 'app',
        previous: false,
        tailLines: 1,
        limitBytes: 1,
      },
    });
    api.now.ms += 61_000;

    // act
    const res = await api.send('POST', SYNC, { token: n1, body: {} });

    // assess
    expect(res.json.logRequests ?? []).toEqual([]);
    expect((await api.store.list('LogRequest')).items).toEqual([]);
  });
});
