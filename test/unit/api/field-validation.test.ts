import { beforeEach, describe, expect, it } from 'vitest';
import { configMap, deployment, startApi, type TestApi } from './harness';

const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

describe('fieldValidation on create, update and patch', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  const typo = () => {
    const d = deployment('web');
    Object.assign(d.spec, { replica: 2 });
    Object.assign(d.spec.template.spec.containers[0] as object, { imagePolicy: 'Always' });
    return d;
  };

  it('Strict refuses unknown fields with 400 in the API server words, naming each, and writes nothing', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', DEPLOYMENTS, { body: typo(), query: { fieldValidation: 'Strict' } });

    // assess
    expect(res.status).toBe(400);
    expect(res.json.reason).toBe('BadRequest');
    expect(res.json.message).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica", unknown field "spec.template.spec.containers[0].imagePolicy"',
    );
    expect(await api.snapshot()).toBe(before);
  });

  it('Warn drops unknown fields, stores the rest and names each field in a Warning header', async () => {
    // act
    const res = await api.send('POST', DEPLOYMENTS, { body: typo(), query: { fieldValidation: 'Warn' } });
    const got = await api.send('GET', `${DEPLOYMENTS}/web`);

    // assess
    expect(res.status).toBe(201);
    expect(res.headers.warning).toContain('299 - "unknown field \\"spec.replica\\""');
    expect(res.headers.warning).toContain('spec.template.spec.containers[0].imagePolicy');
    expect((got.json.spec as Record<string, unknown>).replica).toBeUndefined();
  });

  it('Ignore drops unknown fields without a warning', async () => {
    // act
    const res = await api.send('POST', DEPLOYMENTS, { body: typo(), query: { fieldValidation: 'Ignore' } });

    // assess
    expect(res.status).toBe(201);
    expect(res.headers.warning).toBeUndefined();
    expect((res.json.spec as Record<string, unknown>).replica).toBeUndefined();
  });

  it('without the parameter refuses unknown fields as validation errors (422), as ferry always has', async () => {
    // act
    const res = await api.send('POST', DEPLOYMENTS, { body: typo() });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain('spec.replica');
  });

  it('applies to the object a patch or an update produces', async () => {
    // prepare
    await api.send('POST', CONFIGMAPS, { body: configMap('c', { a: '1' }) });

    // act
    const strict = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: { spec: { x: 1 } },
      contentType: 'application/merge-patch+json',
      query: { fieldValidation: 'Strict' },
    });
    const warned = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: { spec: { x: 1 }, data: { b: '2' } },
      contentType: 'application/strategic-merge-patch+json',
      query: { fieldValidation: 'Warn' },
    });
    const put = await api.send('PUT', `${CONFIGMAPS}/c`, {
      body: { ...configMap('c', { a: '3' }), extra: true },
      query: { fieldValidation: 'Strict' },
    });

    // assess
    expect(strict.status).toBe(400);
    expect(strict.json.message).toContain('unknown field "spec"');
    expect(warned.status).toBe(200);
    expect(warned.json.data).toEqual({ a: '1', b: '2' });
    expect(warned.headers.warning).toContain('unknown field \\"spec\\"');
    expect(put.status).toBe(400);
    expect(put.json.message).toContain('unknown field "extra"');
  });

  it.each([['strict'], ['Bogus'], ['']])('refuses the directive %j with 422 naming the parameter', async (value) => {
    // act
    const res = await api.send('POST', CONFIGMAPS, { body: configMap('c', {}), query: { fieldValidation: value } });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('fieldValidation');
  });

  it('refuses duplicate keys whatever the directive (the body parser does)', async () => {
    // act
    const res = await api.send('POST', CONFIGMAPS, {
      raw: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","a":"2"}}',
      contentType: 'application/json',
      query: { fieldValidation: 'Ignore' },
    });

    // assess
    expect(res.status).toBe(400);
    expect(res.json.message).toContain('duplicate key "a"');
  });
});
