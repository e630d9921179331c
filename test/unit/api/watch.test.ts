/**
 * Watch (`?watch=true`): the events a list with the same selectors would see, from where the client
 * says, as `{"type","object"}` lines; refused where the runtime has no change feed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configMap, pod, type Sent, startApi, type TestApi } from './harness';

const CMS = '/api/v1/namespaces/default/configmaps';

/** Runs a watch response's stream, collecting `type name` per event, until stopped. */
function follow(res: Sent) {
  const events: string[] = [];
  const abort = new AbortController();
  if (!res.stream) throw new Error(`not a stream: ${res.status} ${res.body}`);
  const done = res.stream((chunk) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string } } };
      events.push(`${ev.type} ${ev.object.metadata.name}`);
    }
  }, abort.signal);
  return {
    events,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('watch', () => {
  let api: TestApi;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    api = await startApi(undefined, { watch: true });
    await api.send('POST', CMS, { body: { ...configMap('old'), metadata: { name: 'old', labels: { app: 'web' } } } });
  });

  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
  });

  it('starts with ADDED for what exists, then streams changes that match the label selector', async () => {
    // prepare
    const res = await api.send('GET', CMS, { query: { watch: 'true', labelSelector: 'app=web' } });
    const w = follow(res);
    stops.push(w.stop);

    // act
    await api.send('POST', CMS, { body: { ...configMap('new'), metadata: { name: 'new', labels: { app: 'web' } } } });
    await api.send('POST', CMS, { body: configMap('unlabelled') });
    await api.send('PATCH', `${CMS}/new`, {
      raw: JSON.stringify({ data: { a: '2' } }),
      contentType: 'application/merge-patch+json',
    });
    await api.send('DELETE', `${CMS}/old`);
    await settle();

    // assess
    expect(res.status).toBe(200);
    expect(w.events).toEqual(['ADDED old', 'ADDED new', 'MODIFIED new', 'DELETED old']);
  });

  it('from a list resourceVersion, sends only what changed since', async () => {
    // prepare
    const list = await api.send('GET', CMS);
    await api.send('POST', CMS, { body: configMap('after-list') });

    // act
    const w = follow(
      await api.send('GET', CMS, {
        query: { watch: '1', resourceVersion: String(list.json.metadata?.resourceVersion) },
      }),
    );
    stops.push(w.stop);
    await api.send('DELETE', `${CMS}/after-list`);
    await settle();

    // assess
    expect(w.events).toEqual(['MODIFIED after-list', 'DELETED after-list']);
  });

  it('lets a node watch only its own pods, as it may list them', async () => {
    // prepare
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const reg = await api.send('POST', '/agent/v1/register', {
      token: bootstrap,
      body: { nodeName: 'n1', status: { capacity: { cpu: '1', memory: '1Gi', pods: '10' } } },
    });
    const node = String(reg.json.token);
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('mine', { nodeName: 'n1' }) });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('theirs', { nodeName: 'n2' }) });

    // act
    const all = await api.send('GET', '/api/v1/pods', { token: node, query: { watch: 'true' } });
    const own = await api.send('GET', '/api/v1/pods', {
      token: node,
      query: { watch: 'true', fieldSelector: 'spec.nodeName=n1' },
    });
    const w = follow(own);
    stops.push(w.stop);
    await settle();

    // assess
    expect(all.status).toBe(403);
    expect(w.events).toEqual(['ADDED mine']);
  });

  it('rejects bad parameters with 400 before subscribing, and a runtime without a change feed', async () => {
    // prepare
    const lambdaLike = await startApi();

    // act
    const badTimeout = await api.send('GET', CMS, { query: { watch: 'true', timeoutSeconds: '-5' } });
    const badRv = await api.send('GET', CMS, { query: { watch: 'true', resourceVersion: 'abc' } });
    const badField = await api.send('GET', CMS, { query: { watch: 'true', fieldSelector: 'data.a=1' } });
    const unsupported = await lambdaLike.send('GET', CMS, { query: { watch: 'true' } });

    // assess
    expect([badTimeout.status, badRv.status, badField.status, unsupported.status]).toEqual([400, 400, 400, 400]);
    expect(badTimeout.json.message).toMatch(/^timeoutSeconds:/);
    expect(badRv.json.message).toMatch(/^resourceVersion:/);
    expect(unsupported.json.message).toMatch(/watch is not supported/);
  });
});
