/**
 * The same requests through both runtimes — the node:http server and the Lambda handler fed
 * API Gateway HTTP API v2 events — must get identical responses.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler, ensureDefaults } from '../../../functions/api';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import type { ApiServer } from '../../../functions/runtime/http-server';
import { createLambdaHandler } from '../../../functions/runtime/lambda';
import { startApiServer } from '../../../functions/runtime/local';
import { MemoryStore } from '../../../functions/store/memory';
import { issueToken } from '../../../functions/tokens';

interface Case {
  name: string;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  auth?: 'admin' | 'none' | 'bogus';
}

const cm = (name: string, extra = '') =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, labels: { app: 'x' } },
    data: { k: 'v' },
    ...(extra ? JSON.parse(extra) : {}),
  });

const CASES: Case[] = [
  { name: 'healthz', method: 'GET', path: '/healthz', auth: 'none' },
  {
    name: 'create',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    body: cm('one'),
    contentType: 'application/json',
  },
  {
    name: 'create again is a conflict',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    body: cm('one'),
    contentType: 'application/json',
  },
  { name: 'get', method: 'GET', path: '/api/v1/namespaces/default/configmaps/one' },
  { name: 'list with a selector', method: 'GET', path: '/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx' },
  {
    name: 'merge patch',
    method: 'PATCH',
    path: '/api/v1/namespaces/default/configmaps/one',
    body: '{"data":{"k":"w"}}',
    contentType: 'application/merge-patch+json',
  },
  {
    name: 'stale replace',
    method: 'PUT',
    path: '/api/v1/namespaces/default/configmaps/one',
    body: cm('one', '{"metadata":{"name":"one","resourceVersion":"1"}}'),
    contentType: 'application/json',
  },
  { name: 'missing', method: 'GET', path: '/api/v1/namespaces/default/configmaps/nope' },
  {
    name: 'invalid',
    method: 'POST',
    path: '/apis/apps/v1/namespaces/default/deployments',
    body: '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"Bad_Name"},"spec":{"replica":1}}',
    contentType: 'application/json',
  },
  {
    name: 'malformed yaml',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    body: 'kind: ConfigMap\n  bad: [',
    contentType: 'application/yaml',
  },
  {
    name: 'too large',
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    body: 'x'.repeat(DEFAULT_MAX_BODY_BYTES + 1),
    contentType: 'application/json',
  },
  { name: 'no token', method: 'GET', path: '/api/v1/namespaces/default/configmaps', auth: 'none' },
  { name: 'bad token', method: 'GET', path: '/api/v1/namespaces/default/configmaps', auth: 'bogus' },
  { name: 'unknown route', method: 'GET', path: '/api/v1/namespaces/default/widgets' },
  { name: 'delete', method: 'DELETE', path: '/api/v1/namespaces/default/configmaps/one' },
];

/**
 * Server-set values differ between two stores, and a write's field manager is named after the
 * client's User-Agent (fetch sends one, the Lambda event here none); everything else must not.
 */
function normalise(body: string): string {
  return body
    .replace(/"uid":"[^"]+"/g, '"uid":"*"')
    .replace(/"creationTimestamp":"[^"]+"/g, '"creationTimestamp":"*"')
    .replace(/"manager":"[^"]+"/g, '"manager":"*"');
}

async function seeded() {
  const store = new MemoryStore(() => 1_700_000_000_000);
  const deps: ApiDeps = {
    store,
    clock: () => 1_700_000_000_000,
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: '0.1.0' },
  };
  await ensureDefaults(deps);
  const { token } = await issueToken(deps, { name: 'admin', role: 'admin' });
  return { deps, token };
}

describe('runtime parity: node:http and Lambda give identical responses', () => {
  let server: ApiServer;
  let httpToken: string;
  let lambda: ReturnType<typeof createLambdaHandler>;
  let lambdaToken: string;

  beforeAll(async () => {
    const a = await seeded();
    httpToken = a.token;
    server = await startApiServer({
      handler: createApiHandler(a.deps),
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      log: silentLogger,
    });
    const b = await seeded();
    lambdaToken = b.token;
    lambda = createLambdaHandler(b.deps);
  });
  afterAll(async () => {
    await server.close();
  });

  const authHeader = (c: Case, token: string) =>
    c.auth === 'none' ? {} : { authorization: `Bearer ${c.auth === 'bogus' ? 'ferry_x_y' : token}` };

  for (const c of CASES) {
    it(`answers "${c.name}" the same way`, async () => {
      const res = await fetch(`${server.url}${c.path}`, {
        method: c.method,
        headers: { ...authHeader(c, httpToken), ...(c.contentType ? { 'content-type': c.contentType } : {}) } as Record<
          string,
          string
        >,
        ...(c.body !== undefined ? { body: c.body } : {}),
      });
      const httpBody = await res.text();

      const [rawPath, rawQueryString = ''] = c.path.split('?') as [string, string?];
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath,
        rawQueryString,
        headers: { ...authHeader(c, lambdaToken), ...(c.contentType ? { 'content-type': c.contentType } : {}) },
        requestContext: {
          http: { method: c.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
        },
        isBase64Encoded: c.body !== undefined,
        ...(c.body !== undefined ? { body: Buffer.from(c.body).toString('base64') } : {}),
      } as unknown as APIGatewayProxyEventV2;
      const out = await lambda(event, {} as never);

      expect(out.statusCode).toBe(res.status);
      expect(out.headers?.['content-type']).toBe(res.headers.get('content-type'));
      expect(normalise(out.body ?? '')).toBe(normalise(httpBody));
    });
  }
});
