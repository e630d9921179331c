/**
 * A Pod's DNS fields through the API: what Kubernetes accepts is accepted (every dnsPolicy,
 * dnsConfig within its limits, hostname and subdomain), and what it refuses is a 422 that names
 * the field, on a Pod and in a Deployment's template, storing nothing.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const base = { containers: [{ name: 'app', image: 'img' }] };
const pod = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec,
});
const searches = (n: number, len = 10) =>
  Array.from({ length: n }, (_, i) => `${String(i).padStart(len - 4, 'a')}.com`);

const REFUSED: [string, Record<string, unknown>, string, RegExp][] = [
  ['an unknown dnsPolicy', { dnsPolicy: 'ClusterLast' }, 'spec.dnsPolicy', /Unsupported value: "ClusterLast"/],
  ['dnsPolicy None without dnsConfig', { dnsPolicy: 'None' }, 'spec.dnsConfig', /must provide `dnsConfig`/],
  [
    'dnsPolicy None without a nameserver',
    { dnsPolicy: 'None', dnsConfig: { searches: ['a.com'] } },
    'spec.dnsConfig.nameservers',
    /at least one DNS nameserver/,
  ],
  [
    'four nameservers',
    { dnsConfig: { nameservers: ['1.1.1.1', '1.0.0.1', '8.8.8.8', '8.8.4.4'] } },
    'spec.dnsConfig.nameservers',
    /must not have more than 3 nameservers/,
  ],
  [
    'a nameserver that is not an IP',
    { dnsConfig: { nameservers: ['dns.google'] } },
    'spec.dnsConfig.nameservers[0]',
    /must be a valid IP address/,
  ],
  [
    '33 search paths',
    { dnsConfig: { searches: searches(33) } },
    'spec.dnsConfig.searches',
    /more than 32 search paths/,
  ],
  [
    'a search line over 2048 characters',
    { dnsConfig: { searches: searches(20, 110) } },
    'spec.dnsConfig.searches',
    /more than 2048 characters \(including spaces\)/,
  ],
  [
    'a search path that is not a domain',
    { dnsConfig: { searches: ['Bad_Name'] } },
    'spec.dnsConfig.searches[0]',
    /RFC 1123 subdomain/,
  ],
  [
    'an option without a name',
    { dnsConfig: { options: [{ value: '2' }] } },
    'spec.dnsConfig.options[0]',
    /must not be empty/,
  ],
  ['an unknown dnsConfig field', { dnsConfig: { servers: ['1.1.1.1'] } }, 'spec.dnsConfig.servers', /unknown field/],
  ['a hostname that is not a label', { hostname: 'web.0' }, 'spec.hostname', /RFC 1123 label/],
  ['a subdomain that is not a label', { subdomain: 'DB' }, 'spec.subdomain', /RFC 1123 label/],
];

describe('Pod DNS fields', () => {
  it.each(REFUSED)('refuses %s with a 422 naming the field, storing nothing', async (_, extra, field, message) => {
    // prepare
    const api = await startApi();
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('p', { ...base, ...extra }) });

    // assess
    expect(res.status).toBe(422);
    const cause = res.json.details?.causes?.find((c) => c.field === field);
    expect(cause?.message, JSON.stringify(res.json.details?.causes)).toMatch(message);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses them in a Deployment template at the template path', async () => {
    const api = await startApi();
    const res = await api.send('POST', '/apis/apps/v1/namespaces/default/deployments', {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { ...base, dnsPolicy: 'None' } },
        },
      },
    });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain('spec.template.spec.dnsConfig');
  });

  it.each([
    ['ClusterFirst (the default)', {}],
    ['Default', { dnsPolicy: 'Default' }],
    ['ClusterFirstWithHostNet', { dnsPolicy: 'ClusterFirstWithHostNet' }],
    ['None with a nameserver', { dnsPolicy: 'None', dnsConfig: { nameservers: ['192.0.2.53'] } }],
    [
      'dnsConfig at its limits',
      {
        dnsConfig: {
          nameservers: ['1.1.1.1', '2001:db8::1', '8.8.8.8'],
          searches: [...searches(31), 'trailing.dot.example.'],
          options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
        },
      },
    ],
    ['a hostname and subdomain', { hostname: 'db-0', subdomain: 'db' }],
  ])('accepts %s', async (_, extra) => {
    const api = await startApi();
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('ok', { ...base, ...extra }) });
    expect(res.json.details?.causes ?? []).toEqual([]);
    expect(res.status).toBe(201);
  });

  it('defaults dnsPolicy to ClusterFirst', async () => {
    const api = await startApi();
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('d', base) });
    expect((res.json as unknown as { spec: { dnsPolicy: string } }).spec.dnsPolicy).toBe('ClusterFirst');
  });
});
