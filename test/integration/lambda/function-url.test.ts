/**
 * The API function behind its function URL (serverless.yml: agents sync there, users go through
 * the HTTP API): a function URL event, as AWS documents it, is answered exactly as the same
 * request behind the HTTP API, and no more: every route that needs a token still needs one.
 * Machines' user-data carries the function URL when the deployment has one.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaults } from '../../../functions/api';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import { agentApiUrl, createLambdaHandler } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import { issueToken } from '../../../functions/tokens';

interface Request {
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
  cookies?: string[];
}

/** A function URL event with AuthType NONE (the documented request payload: format 2.0). */
function functionUrlEvent(r: Request): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: r.path,
    rawQueryString: r.query ?? '',
    ...(r.cookies ? { cookies: r.cookies } : {}),
    headers: {
      host: 'abc123.lambda-url.us-east-1.on.aws',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.7',
      ...r.headers,
    },
    ...(r.query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(r.query)) } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc123',
      domainName: 'abc123.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc123',
      http: { method: r.method, path: r.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'ferry-agent' },
      requestId: 'id',
      routeKey: '$default',
      stage: '$default',
      time: '02/Dec/2026:04:00:00 +0000',
      timeEpoch: 1_796_184_000_000,
    },
    ...(r.body !== undefined ? { body: Buffer.from(r.body).toString('base64'), isBase64Encoded: true } : {}),
    isBase64Encoded: r.body !== undefined,
  } as APIGatewayProxyEventV2;
}

/** The same request as the HTTP API sends it (its own requestContext: API id, stage, account). */
function httpApiEvent(r: Request): APIGatewayProxyEventV2 {
  const e = functionUrlEvent(r);
  return {
    ...e,
    headers: { ...e.headers, host: 'api123.execute-api.us-east-1.amazonaws.com' },
    requestContext: {
      ...e.requestContext,
      accountId: '123456789012',
      apiId: 'api123',
      domainName: 'api123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'api123',
    },
  };
}

describe('the API function behind its function URL', () => {
  let handler: ReturnType<typeof createLambdaHandler>;
  let admin: string;
  const call = (event: APIGatewayProxyEventV2) =>
    handler(event, {} as never) as Promise<APIGatewayProxyStructuredResultV2>;

  beforeAll(async () => {
    const deps: ApiDeps = {
      store: new MemoryStore(),
      clock: Date.now,
      log: silentLogger,
      config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: '0.1.0' },
    };
    await ensureDefaults(deps);
    admin = (await issueToken(deps, { name: 'admin', role: 'admin' })).token;
    handler = createLambdaHandler(deps);
  });

  it('answers a function URL event as it answers the same request from the HTTP API', async () => {
    const create: Request = {
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-url' }, data: { k: 'v' } }),
    };
    const created = await call(functionUrlEvent(create));
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(String(created.body)).metadata.name).toBe('via-url');

    const get: Request = {
      method: 'GET',
      path: '/api/v1/namespaces/default/configmaps/via-url',
      headers: { authorization: `Bearer ${admin}` },
    };
    const viaUrl = await call(functionUrlEvent(get));
    const viaHttpApi = await call(httpApiEvent(get));
    expect(viaUrl.statusCode).toBe(200);
    expect(viaUrl).toEqual(viaHttpApi);
  });

  it('reads the query string from rawQueryString, as behind the HTTP API', async () => {
    const res = await call(
      functionUrlEvent({
        method: 'GET',
        path: '/api/v1/namespaces/default/configmaps',
        query: 'fieldSelector=metadata.name%3Dvia-url',
        headers: { authorization: `Bearer ${admin}` },
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body)).items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual([
      'via-url',
    ]);
  });

  it('refuses requests without a valid token through the URL, as through the HTTP API', async () => {
    const requests: Request[] = [
      { method: 'GET', path: '/api/v1/namespaces/default/configmaps' },
      { method: 'GET', path: '/api/v1/secrets', headers: { authorization: 'Bearer ferry_x_y' } },
      // A cookie is no credential: format 2.0 hands it over in `cookies`, and it opens nothing.
      { method: 'GET', path: '/api/v1/secrets', cookies: [`token=${admin}`, `authorization=Bearer ${admin}`] },
      { method: 'POST', path: '/agent/v1/sync', headers: { 'content-type': 'application/json' }, body: '{}' },
      { method: 'POST', path: '/agent/v1/register', headers: { authorization: 'Bearer nope' }, body: '{}' },
    ];
    for (const r of requests) {
      const viaUrl = await call(functionUrlEvent(r));
      expect(viaUrl.statusCode, `${r.method} ${r.path}`).toBe(401);
      expect(viaUrl).toEqual(await call(httpApiEvent(r)));
    }
  });

  it('refuses a body over the limit before it reaches the API', async () => {
    const res = await call(
      functionUrlEvent({
        method: 'POST',
        path: '/api/v1/namespaces/default/configmaps',
        headers: { authorization: `Bearer ${admin}` },
        body: 'x'.repeat(DEFAULT_MAX_BODY_BYTES + 1),
      }),
    );
    expect(res.statusCode).toBe(413);
  });
});

describe('the URL machines\u2019 agents are given', () => {
  it('is the function URL when the deployment has one, without its trailing slash', () => {
    expect(
      agentApiUrl({
        FERRY_AGENT_URL: 'https://abc123.lambda-url.us-east-1.on.aws/',
        FERRY_PUBLIC_URL: 'https://api123.execute-api.us-east-1.amazonaws.com',
      }),
    ).toBe('https://abc123.lambda-url.us-east-1.on.aws');
  });

  it('falls back to the public URL, and is unset when neither is', () => {
    expect(agentApiUrl({ FERRY_PUBLIC_URL: 'https://api123.execute-api.us-east-1.amazonaws.com' })).toBe(
      'https://api123.execute-api.us-east-1.amazonaws.com',
    );
    expect(agentApiUrl({ FERRY_AGENT_URL: '  ', FERRY_PUBLIC_URL: 'https://x.example' })).toBe('https://x.example');
    expect(agentApiUrl({})).toBeUndefined();
  });
});
