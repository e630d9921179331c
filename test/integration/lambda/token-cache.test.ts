/**
 * The Lambda containers' token cache (runtime/lambda.ts: LAMBDA_TOKEN_CACHE_TTL_MS): an agent's
 * sync every 20 s reads its token once a minute, not every time, and a revoked token stops
 * working at once in the container that revoked it and within the bound in every other one (a
 * container's store sees only its own writes, as DynamoDB's does here).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { ensureDefaults } from '../../../functions/api';
import { revokeToken } from '../../../functions/api/tokens';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import { createLambdaHandler, LAMBDA_TOKEN_CACHE_TTL_MS } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import { issueToken } from '../../../functions/tokens';

/** The store as another container sees it: the same table, none of this container's watch events. */
function otherContainer(store: StateStore): StateStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'watch') return () => () => {};
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Counts token reads: what the cache saves. */
function countingTokenReads(store: StateStore, counter: { reads: number }): StateStore {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'get')
        return (ref: { kind: string }, ...rest: unknown[]) => {
          if (ref.kind === 'Token') counter.reads++;
          return (value as (...a: unknown[]) => unknown).call(target, ref, ...rest);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const listEvent = (token: string): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey: '$default',
    rawPath: '/api/v1/namespaces/default/configmaps',
    rawQueryString: '',
    headers: { authorization: `Bearer ${token}` },
    requestContext: { http: { method: 'GET', path: '/api/v1/namespaces/default/configmaps' } },
    isBase64Encoded: false,
  }) as unknown as APIGatewayProxyEventV2;

describe('the Lambda containers\u2019 token cache', () => {
  let now: number;
  let shared: MemoryStore;
  let reads: { reads: number };
  let agent: ReturnType<typeof createLambdaHandler>;
  let adminDeps: ApiDeps;
  let token: string;

  const depsOver = (store: StateStore): ApiDeps => ({
    store,
    clock: () => now,
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: '0.1.0', tokenCacheTtlMs: LAMBDA_TOKEN_CACHE_TTL_MS },
  });
  const status = async (handler: ReturnType<typeof createLambdaHandler>, t: string) =>
    ((await handler(listEvent(t), {} as never)) as APIGatewayProxyStructuredResultV2).statusCode;

  beforeEach(async () => {
    now = Date.parse('2026-12-02T04:00:00Z');
    shared = new MemoryStore();
    reads = { reads: 0 };
    adminDeps = depsOver(shared);
    await ensureDefaults(adminDeps);
    token = (await issueToken(adminDeps, { name: 'ci', role: 'admin' })).token;
    agent = createLambdaHandler(depsOver(countingTokenReads(otherContainer(shared), reads)));
  });

  it('reads a token once a minute for a caller that comes every 20 s', async () => {
    for (let i = 0; i < 6; i++) {
      expect(await status(agent, token)).toBe(200);
      now += 20_000;
    }
    // Two minutes of calls: the reads at 0 s and 60 s.
    expect(reads.reads).toBe(2);
  });

  it('stops a token revoked in another container within the bound, not before its entry ends', async () => {
    expect(await status(agent, token)).toBe(200);
    await revokeToken(adminDeps, 'ci');
    now += LAMBDA_TOKEN_CACHE_TTL_MS - 1;
    expect(await status(agent, token)).toBe(200);
    now += 1;
    expect(await status(agent, token)).toBe(401);
  });

  it('stops a token revoked in the same container at once', async () => {
    const same = depsOver(shared);
    const handler = createLambdaHandler(same);
    expect(await status(handler, token)).toBe(200);
    await revokeToken(same, 'ci');
    expect(await status(handler, token)).toBe(401);
  });

  it('never trusts a cached token past its own expiry', async () => {
    const short = await issueToken(adminDeps, { name: 'short', role: 'admin', ttlSeconds: 10 });
    expect(await status(agent, short.token)).toBe(200);
    now += 10_000;
    expect(await status(agent, short.token)).toBe(401);
  });

  it('caches no refusal: a token issued after a failed attempt works at once', async () => {
    const bogus = 'ferry_later_abcdef';
    expect(await status(agent, bogus)).toBe(401);
    expect(await status(agent, bogus)).toBe(401);
    expect(reads.reads).toBe(2);
  });
});
