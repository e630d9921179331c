/**
 * Where the server holds no connections (the Lambda runtime: API Gateway's HTTP API ends each
 * request), exec, attach, port-forward and streamed logs are refused with a 400 saying why, and
 * nothing is asked of a node. Discovery lists the connect subresources as the API server does.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pod, startApi, type TestApi } from '../api/harness';

const POD = '/api/v1/namespaces/default/pods/web';

describe('streams without held connections (Lambda)', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('web', { nodeName: 'n1' }) });
  });

  it.each(['exec', 'attach', 'portforward'])(
    'refuses pods/%s with a 400 naming the runtime, for GET and POST',
    async (sub) => {
      // act
      const get = await api.send('GET', `${POD}/${sub}`, { query: { command: 'ls', stdout: 'true' } });
      const post = await api.send('POST', `${POD}/${sub}`, { query: { command: 'ls', stdout: 'true' } });
      const put = await api.send('PUT', `${POD}/${sub}`, { body: {} });

      // assess
      for (const res of [get, post]) {
        expect(res.status).toBe(400);
        expect(res.json.message).toContain('ferry on AWS Lambda cannot hold one');
      }
      expect(put.status).toBe(405);
      expect((await api.store.list('LogRequest')).items).toEqual([]);
    },
  );

  it('refuses exec to a reader before saying anything about the runtime (403)', async () => {
    // prepare
    const reader = await api.token({ role: 'reader' });

    // act
    const res = await api.send('POST', `${POD}/exec`, { token: reader, query: { command: 'ls' } });

    // assess
    expect(res.status).toBe(403);
  });

  it('lists pods/exec, pods/attach and pods/portforward in discovery with their options kinds', async () => {
    // act
    const res = await api.send('GET', '/api/v1');
    const resources = res.json.resources as { name: string; kind: string; verbs: string[] }[];

    // assess
    expect(resources.find((r) => r.name === 'pods/exec')).toMatchObject({
      kind: 'PodExecOptions',
      verbs: ['create', 'get'],
    });
    expect(resources.find((r) => r.name === 'pods/attach')).toMatchObject({ kind: 'PodAttachOptions' });
    expect(resources.find((r) => r.name === 'pods/portforward')).toMatchObject({ kind: 'PodPortForwardOptions' });
  });
});
