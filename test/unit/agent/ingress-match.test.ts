import { describe, expect, it } from 'vitest';
import { compile, match, normalizeHost, requestPath } from '../../../agent/ingress/match';
import type { IngressPathRule, IngressTable } from '../../../schemas/agent-protocol';

const svc = (name: string) => ({ namespace: 'default', name, port: 80 });
const rule = (path: string, pathType: 'Exact' | 'Prefix', to: string, host?: string): IngressPathRule => ({
  ingress: 'default/ing',
  ...(host ? { host } : {}),
  path,
  pathType,
  backend: svc(to),
});
const table = (rules: IngressPathRule[], defaults: IngressTable['defaults'] = []): IngressTable => ({
  rules,
  defaults,
  tls: [],
});
const to = (t: IngressTable, path: string, host?: string) => match(compile(t), host, path)?.backend.name;

describe('the ingress matches paths as the Kubernetes docs table says', () => {
  // https://kubernetes.io/docs/concepts/services-networking/ingress/#examples
  it.each([
    ['Prefix', ['/'], '/anything/at/all', 'r0'],
    ['Exact', ['/foo'], '/foo', 'r0'],
    ['Exact', ['/foo'], '/bar', undefined],
    ['Exact', ['/foo'], '/foo/', undefined],
    ['Exact', ['/foo/'], '/foo', undefined],
    ['Prefix', ['/foo'], '/foo', 'r0'],
    ['Prefix', ['/foo'], '/foo/', 'r0'],
    ['Prefix', ['/foo/'], '/foo', 'r0'],
    ['Prefix', ['/foo/'], '/foo/', 'r0'],
    ['Prefix', ['/aaa/bb'], '/aaa/bbb', undefined],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb', 'r0'],
    ['Prefix', ['/aaa/bbb/'], '/aaa/bbb', 'r0'],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb/', 'r0'],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb/ccc', 'r0'],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbbxyz', undefined],
    ['Prefix', ['/', '/aaa'], '/aaa/ccc', 'r1'],
    ['Prefix', ['/', '/aaa', '/aaa/bbb'], '/aaa/bbb', 'r2'],
    ['Prefix', ['/', '/aaa', '/aaa/bbb'], '/ccc', 'r0'],
    ['Prefix', ['/aaa'], '/ccc', undefined],
    ['Prefix', ['/Foo'], '/foo', undefined],
  ] as const)('%s %j and request %s goes to %s', (pathType, paths, request, want) => {
    // prepare
    const t = table(paths.map((p, i) => rule(p, pathType, `r${i}`)));

    // act / assess
    expect(to(t, request)).toBe(want);
  });

  it('prefers Exact over Prefix for the same path, whichever comes first', () => {
    // prepare
    const t = table([rule('/foo', 'Prefix', 'prefix'), rule('/foo', 'Exact', 'exact')]);

    // act / assess
    expect(to(t, '/foo')).toBe('exact');
    expect(to(t, '/foo/bar')).toBe('prefix');
  });

  it('lets the longest path win over an Exact shorter one, and the first rule win a tie', () => {
    // prepare
    const t = table([rule('/a', 'Exact', 'short'), rule('/a/b', 'Prefix', 'first'), rule('/a/b/', 'Prefix', 'second')]);

    // act / assess
    expect(to(t, '/a/b/c')).toBe('first');
    expect(to(t, '/a')).toBe('short');
  });

  it('matches the path without the query string, and an absolute-form request target', () => {
    expect(requestPath('/foo?x=/bar')).toBe('/foo');
    expect(requestPath('/foo#frag')).toBe('/foo');
    expect(requestPath('http://example.com/a/b?c')).toBe('/a/b');
    expect(requestPath('http://example.com')).toBe('/');
    expect(requestPath('*')).toBe('/');
  });
});

describe('the ingress matches hosts as the Ingress spec says', () => {
  const t = table([
    rule('/', 'Prefix', 'exact', 'foo.bar.com'),
    rule('/', 'Prefix', 'wild', '*.bar.com'),
    rule('/only', 'Prefix', 'wild-only', '*.foo.com'),
    rule('/', 'Prefix', 'any'),
  ]);

  it.each([
    ['foo.bar.com', 'exact'],
    ['FOO.Bar.COM', 'exact'],
    ['foo.bar.com:8080', 'exact'],
    ['foo.bar.com.', 'exact'],
    ['baz.bar.com', 'wild'],
    ['baz.foo.bar.com', 'any'],
    ['bar.com', 'any'],
    ['other.example', 'any'],
    ['127.0.0.1', 'any'],
    ['[::1]:80', 'any'],
    [undefined, 'any'],
  ])('host %s goes to %s', (host, want) => {
    expect(to(t, '/', host)).toBe(want);
  });

  it('does not fall back to the host-less rules when the host has rules but no path matches', () => {
    // act / assess: like ingress-nginx, a host with rules is its own server
    expect(to(t, '/elsewhere', 'x.foo.com')).toBeUndefined();
    expect(to(t, '/only/x', 'x.foo.com')).toBe('wild-only');
  });

  it('sends what no rule matches to the default backend of the Ingress that has the host, else the oldest one', () => {
    // prepare
    const withDefaults = table(
      [rule('/api', 'Prefix', 'api', 'shop.example.com'), rule('/x', 'Exact', 'x')],
      [
        { ingress: 'default/old', hosts: [], backend: svc('catch-all') },
        { ingress: 'default/shop', hosts: ['shop.example.com'], backend: svc('shop-default') },
      ],
    );

    // act / assess
    expect(to(withDefaults, '/api/v1', 'shop.example.com')).toBe('api');
    expect(to(withDefaults, '/', 'shop.example.com')).toBe('shop-default');
    expect(to(withDefaults, '/', 'other.example.com')).toBe('catch-all');
    expect(to(withDefaults, '/x', 'other.example.com')).toBe('x');
  });

  it.each([
    ['a 100,000-character host', 'a'.repeat(100_000)],
    ['a host with a CRLF and a header', 'a.com\r\nX-Injected: 1'],
    ['a host with a space', 'a .bar.com'],
    ['a host with a slash', 'foo.bar.com/evil'],
    ['a host with a bad port', 'foo.bar.com:http'],
    ['a host of dots', '...'],
  ])('treats %s as no host: only the host-less rules apply', (_what, host) => {
    expect(normalizeHost(host)).toBeUndefined();
    expect(to(t, '/', host)).toBe('any');
  });

  it('returns nothing when there are no rules and no default backend (the server answers 404)', () => {
    expect(match(compile(table([])), 'a.com', '/')).toBeUndefined();
  });
});
