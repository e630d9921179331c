/**
 * The verified-token cache (functions/api/auth.ts TokenCache): a revocation through this process
 * takes effect on the next request, a pod's deletion or an RBAC change re-reads only
 * service-account tokens, and a 5,000-node cluster's node tokens all fit.
 */
import { describe, expect, it } from 'vitest';
import { type Principal, TokenCache } from '../../../functions/api/auth';
import type { TokenRecord } from '../../../functions/tokens';

function record(name: string, role: Principal['role']): TokenRecord {
  return { apiVersion: 'ferry.dev/v1', kind: 'Token', metadata: { name }, spec: { role } } as TokenRecord;
}

function principal(name: string, role: Principal['role']): Principal {
  return { name, role, namespaces: [] };
}

describe('token cache', () => {
  it('drops a token at once when its record changes, and keeps the others', () => {
    const cache = new TokenCache();
    cache.set('k-ci', principal('ci', 'reader'), record('ci', 'reader'), 0);
    cache.set('k-node', principal('node-1', 'node'), record('node-1', 'node'), 0);

    cache.forgetToken('ci');

    expect(cache.get('k-ci', 1)).toBeUndefined();
    expect(cache.get('k-node', 1)?.name).toBe('node-1');
  });

  it('re-reads only service-account tokens after a pod deletion or an RBAC change', () => {
    const cache = new TokenCache();
    cache.set('k-sa', principal('pod-token', 'serviceaccount'), record('pod-token', 'serviceaccount'), 0);
    cache.set('k-node', principal('node-1', 'node'), record('node-1', 'node'), 0);

    cache.forgetServiceAccounts();

    expect(cache.get('k-sa', 1)).toBeUndefined();
    expect(cache.get('k-node', 1)?.name).toBe('node-1');
  });

  it('still re-reads every token after its second', () => {
    const cache = new TokenCache();
    cache.set('k-node', principal('node-1', 'node'), record('node-1', 'node'), 0);

    expect(cache.get('k-node', TokenCache.TTL_MS - 1)).toBeDefined();
    expect(cache.get('k-node', TokenCache.TTL_MS)).toBeUndefined();
    expect(cache.size()).toBe(0);
  });

  it('holds the tokens of 5,000 nodes and their pods, and evicts the oldest past its bound', () => {
    const cache = new TokenCache();
    for (let i = 0; i < 12_000; i++)
      cache.set(`k-${i}`, principal(`node-${i}`, 'node'), record(`node-${i}`, 'node'), 0);
    expect(cache.get('k-0', 1)?.name).toBe('node-0');

    for (let i = 12_000; i < TokenCache.MAX_ENTRIES + 1; i++)
      cache.set(`k-${i}`, principal(`node-${i}`, 'node'), record(`node-${i}`, 'node'), 0);

    expect(cache.size()).toBe(TokenCache.MAX_ENTRIES);
    expect(cache.get('k-0', 1)).toBeUndefined();
    cache.forgetToken('node-0');
    expect(cache.size()).toBe(TokenCache.MAX_ENTRIES);
  });

  it('forgets an older token cached under the same name when the name is written', () => {
    const cache = new TokenCache();
    cache.set('k-old', principal('node-1', 'node'), record('node-1', 'node'), 0);
    cache.set('k-new', principal('node-1', 'node'), record('node-1', 'node'), 0);

    cache.forgetToken('node-1');

    expect(cache.get('k-old', 1)).toBeUndefined();
    expect(cache.get('k-new', 1)).toBeUndefined();
  });
});
