/**
 * Validators compile on a kind's first use (schemas/validate.ts), not at start: a fresh API
 * compiles only the kinds it was sent, and a kind validated first, cold, reports exactly what it
 * reports with every validator compiled up front (the Lambda API's behaviour until now).
 * `vi.resetModules()` gives each test a fresh module graph: a new process, as a cold container is.
 */
import Ajv from 'ajv';
import { beforeEach, describe, expect, it, vi } from 'vitest';

type Validate = typeof import('../../../schemas/validate');

async function freshValidate(): Promise<Validate> {
  return import('../../../schemas/validate');
}

/** One wrong object per kind: a bad name, an unknown field at the top, one in the spec. */
function badObject(info: { kind: string; apiVersion: string; namespaced: boolean }): Record<string, unknown> {
  return {
    apiVersion: info.apiVersion,
    kind: info.kind,
    metadata: { name: 'Not_A_Name', ...(info.namespaced ? { namespace: 'default' } : {}) },
    spec: { madeUp: 1, replicas: 'three', containers: [{ name: 'c', image: 1 }] },
    bogus: true,
  };
}

const badDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'other' } },
      spec: { containers: [{ name: 'c', image: 1, madeUp: true, livenessProbe: { tcpSocket: { port: [] } } }] },
    },
  },
};

const configMap = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { a: 'b' },
});

beforeEach(() => {
  vi.resetModules();
});

describe('validators compiled on first use', () => {
  it('a fresh API compiles only the validators of the kinds it was sent', async () => {
    const { startApi } = await import('../api/harness');
    const { compiledKinds } = await freshValidate();
    const api = await startApi();
    expect(compiledKinds()).toEqual([]);

    expect((await api.send('GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    expect(compiledKinds()).toEqual([]);

    expect((await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('one') })).status).toBe(
      201,
    );
    expect((await api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('two') })).status).toBe(
      201,
    );
    expect(compiledKinds()).toEqual(['ConfigMap']);

    const refused = await api.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: badDeployment });
    expect(refused.status).toBe(422);
    expect(compiledKinds()).toEqual(['ConfigMap', 'Deployment']);
  });

  it("a kind's first request is refused with the same causes as with every validator compiled up front", async () => {
    const cold = await import('../api/harness');
    const coldApi = await cold.startApi();
    const coldRes = await coldApi.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: badDeployment });

    vi.resetModules();
    const warm = await import('../api/harness');
    (await freshValidate()).precompile();
    const warmApi = await warm.startApi();
    const warmRes = await warmApi.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: badDeployment });

    expect(coldRes.status).toBe(422);
    expect(coldRes.json.details?.causes?.length).toBeGreaterThan(2);
    expect(coldRes.json).toEqual(warmRes.json);
  });

  it('every kind validated cold, in any order, reports what it reports precompiled', async () => {
    const eager = await freshValidate();
    eager.precompile();
    const { kinds } = await import('../../../schemas/kinds');
    const expected = kinds.map((k) => [eager.validate(badObject(k)), eager.unknownFields(badObject(k))]);

    vi.resetModules();
    const lazy = await freshValidate();
    // Backwards: each kind compiles after a different set of shared subschemas is registered.
    const got = [...kinds]
      .reverse()
      .map((k) => [lazy.validate(badObject(k)), lazy.unknownFields(badObject(k))])
      .reverse();

    expect(got).toEqual(expected);
    expect(expected.every(([causes]) => (causes as unknown[]).length > 0)).toBe(true);
    expect(lazy.compiledKinds()).toHaveLength(kinds.length);
  });

  it("compiled without Ajv's code optimizer, every kind reports the errors the optimized code reports", async () => {
    const { AJV_OPTIONS } = await freshValidate();
    const { kinds } = await import('../../../schemas/kinds');
    const { shareSubschemas } = await import('../../../schemas/shared-subschemas');
    const errorsWith = (options: object) => {
      const ajv = new Ajv(options);
      return kinds.map((k) => {
        const v = ajv.compile(shareSubschemas(ajv, k.schema));
        v(badObject(k));
        return v.errors;
      });
    };

    const plain = errorsWith(AJV_OPTIONS);
    const optimized = errorsWith({ ...AJV_OPTIONS, code: { optimize: 1 } });

    expect(plain).toEqual(optimized);
    expect(plain.every((errors) => (errors?.length ?? 0) > 0)).toBe(true);
  });

  it('a value that is not an object, or of no known kind, compiles nothing', async () => {
    const { validate, compiledKinds } = await freshValidate();
    expect(validate('x')).toHaveLength(1);
    expect(validate({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'a' } })[0]?.field).toBe('kind');
    expect(validate({ apiVersion: 'v2', kind: 'ConfigMap', metadata: { name: 'a' } })[0]?.field).toBe('apiVersion');
    const hostile = JSON.parse('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","__proto__":{"x":1}}}');
    expect(validate(hostile).map((c) => c.field)).toEqual(['metadata.__proto__']);
    expect(compiledKinds()).toEqual([]);
  });
});
