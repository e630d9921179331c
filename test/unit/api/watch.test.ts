/**
 * Watch (`?watch=true`): the events a list with the same selectors would see, from where the client
 * says, as `{"type","object"}` lines; refused where the runtime has no change feed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../helpers/store-calls';
import { configMap, pod, type Sent, startApi, type TestApi } from './harness';

const CMS = '/api/v1/namespaces/default/configmaps';

/** Runs a watch response's stream, collecting `type name` per event, until stopped. */
function follow(res: Sent) {
  const events: string[] = [];
  const abort = new AbortController();
  if (!res.stream) throw new Error(`not a stream: ${res.status} ${res.body}`);
  const done = res.stream((chunk) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
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

/** Every line of a stream that ends by itself (an ERROR, or a short timeoutSeconds). */
async function collect(res: Sent): Promise<{ type: string; object: Record<string, unknown> }[]> {
  if (!res.stream) throw new Error(`not a stream: ${res.status} ${res.body}`);
  let text = '';
  await res.stream((chunk) => {
    text += chunk;
  }, new AbortController().signal);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

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

  it('sends DELETED when an object stops matching the label selector and ADDED when one starts', async () => {
    // prepare
    await api.send('POST', CMS, { body: configMap('outsider') });
    const w = follow(await api.send('GET', CMS, { query: { watch: 'true', labelSelector: 'app=web' } }));
    stops.push(w.stop);
    const relabel = (name: string, app: string) =>
      api.send('PATCH', `${CMS}/${name}`, {
        body: { metadata: { labels: { app } } },
        contentType: 'application/merge-patch+json',
      });

    // act
    await relabel('old', 'other');
    await relabel('outsider', 'web');
    await relabel('old', 'still-other');
    await settle();

    // assess: the second change of old is not seen (it matched neither before nor after)
    expect(w.events).toEqual(['ADDED old', 'DELETED old', 'ADDED outsider']);
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
    expect(w.events).toEqual(['ADDED after-list', 'DELETED after-list']);
  });

  it('from a list resourceVersion, replays a deletion made between the list and the watch', async () => {
    // prepare
    await api.send('POST', CMS, { body: configMap('doomed') });
    const list = await api.send('GET', CMS);
    await api.send('PATCH', `${CMS}/old`, { body: { data: { a: '9' } }, contentType: 'application/merge-patch+json' });
    await api.send('DELETE', `${CMS}/doomed`);
    await settle();

    // act
    const w = follow(
      await api.send('GET', CMS, {
        query: { watch: 'true', resourceVersion: String(list.json.metadata?.resourceVersion) },
      }),
    );
    stops.push(w.stop);
    await settle();

    // assess
    expect(w.events).toEqual(['MODIFIED old', 'DELETED doomed']);
  });

  it('answers a resourceVersion older than its history with one ERROR event: a 410 Expired Status', async () => {
    // act: revision 1 was written before this server's history began
    const res = await api.send('GET', CMS, { query: { watch: 'true', resourceVersion: '1' } });
    const lines = await collect(res);

    // assess
    expect(res.status).toBe(200);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired', status: 'Failure' },
    });
    expect(String(lines[0]?.object.message)).toMatch(/^too old resource version: 1 \(\d+\)$/);
  });

  it('answers a resourceVersion newer than any write with a 504 ResourceVersionTooLarge ERROR event', async () => {
    // act
    const lines = await collect(
      await api.send('GET', CMS, { query: { watch: 'true', resourceVersion: '999999999999999999999' } }),
    );

    // assess
    expect(lines[0]).toMatchObject({
      type: 'ERROR',
      object: { code: 504, reason: 'Timeout', details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } },
    });
  });

  it.each([['-1'], ['1e3'], [' 5'], ['0x10'], ['9'.repeat(31)], ['5,6']])(
    'refuses the resourceVersion %j with 400',
    async (rv) => {
      // act
      const res = await api.send('GET', CMS, { query: { watch: 'true', resourceVersion: rv } });

      // assess
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(/^resourceVersion:/);
    },
  );

  it('sends BOOKMARK events with the current resourceVersion when allowWatchBookmarks=true, and none otherwise', async () => {
    // prepare
    const fast = await startApi(undefined, { watch: true, watchBookmarkMs: 10 });
    const list = await fast.send('GET', CMS);

    // act
    const marked = follow(
      await fast.send('GET', CMS, {
        query: {
          watch: 'true',
          allowWatchBookmarks: 'true',
          resourceVersion: String(list.json.metadata?.resourceVersion),
        },
      }),
    );
    const plain = follow(
      await fast.send('GET', CMS, {
        query: { watch: 'true', resourceVersion: String(list.json.metadata?.resourceVersion) },
      }),
    );
    stops.push(marked.stop, plain.stop);
    await fast.send('POST', CMS, { body: configMap('late') });
    // Until two bookmarks came (a fixed 60 ms saw only one when the machine was busy); the plain
    // watch was open as long.
    const bookmarks = () => marked.events.filter((e) => e.startsWith('BOOKMARK')).length;
    await until(
      'two bookmarks and both ADDED events',
      () => bookmarks() > 1 && marked.events.includes('ADDED late') && plain.events.length > 0,
    );

    // assess
    expect(marked.events).toContain('ADDED late');
    expect(bookmarks()).toBeGreaterThan(1);
    expect(plain.events).toEqual(['ADDED late']);
  });

  it('streams the initial list then an initial-events-end BOOKMARK for sendInitialEvents=true', async () => {
    // act
    const res = await api.send('GET', CMS, {
      query: {
        watch: 'true',
        sendInitialEvents: 'true',
        resourceVersionMatch: 'NotOlderThan',
        allowWatchBookmarks: 'true',
        timeoutSeconds: '1',
      },
    });
    const lines = await collect(res);
    const refused = await api.send('GET', CMS, { query: { watch: 'true', sendInitialEvents: 'true' } });
    const noBookmarks = await api.send('GET', CMS, {
      query: { watch: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' },
    });

    // assess
    expect(lines.map((l) => l.type)).toEqual(['ADDED', 'BOOKMARK']);
    expect(lines[1]?.object).toMatchObject({ metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } });
    expect([refused.status, noBookmarks.status]).toEqual([422, 422]);
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
