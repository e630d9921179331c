/**
 * Cluster IPs through the API: allocation from the service range, a chosen address honoured or
 * refused by name, kept across PUT/patch/apply, immutable, headless and ExternalName, released on
 * delete, never handed out twice by concurrent creates (memory, and two SQLite handles on one file
 * as two API processes), and the repair pass for claims a dead write left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApiHandler } from '../../../functions/api';
import { DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { candidates, clusterIPClaimRecord, parseServiceRange } from '../../../functions/cluster-ips';
import { repairClusterIPs } from '../../../functions/controllers/cluster-ip-repair';
import { createLogger, silentLogger } from '../../../functions/log';
import { openStore } from '../../../functions/store';
import { formatIPv4, parseIPv4 } from '../../../schemas/ipv4';
import { service, startApi, T0, type TestApi } from './harness';

const SVCS = '/api/v1/namespaces/default/services';
const APPLY = '/apis/ferry.dev/v1/apply';
type Spec = { clusterIP?: string; clusterIPs?: string[]; ipFamilies?: string[]; ipFamilyPolicy?: string };
const specOf = (json: Record<string, unknown>) => json.spec as Spec;
/** The claims of the Services a test made (the built-in `kubernetes` Service holds the first address). */
const claims = async (api: TestApi) =>
  (await api.store.list('ClusterIPClaim')).items
    .map((c) => [c.metadata.name, (c.spec as { service: string }).service])
    .filter(([, owner]) => owner !== 'default/kubernetes')
    .sort();
const causesOf = (json: Record<string, unknown>) =>
  ((json.details as { causes?: { field: string; message: string }[] } | undefined)?.causes ?? []).map((c) => [
    c.field,
    c.message,
  ]);

describe('Service cluster IPs', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('gives a ClusterIP, NodePort and LoadBalancer Service an address from 10.96.0.0/16, single-stack IPv4', async () => {
    // act
    const made = await Promise.all(
      ['ClusterIP', 'NodePort', 'LoadBalancer'].map((type, i) =>
        api.send('POST', SVCS, { body: service(`s${i}`, undefined, { type }) }),
      ),
    );

    // assess
    const range = parseServiceRange('10.96.0.0/16');
    for (const res of made) {
      expect(res.status).toBe(201);
      const spec = specOf(res.json);
      const n = parseIPv4(spec.clusterIP ?? '') as number;
      expect(n).toBeGreaterThan(range.base + 1);
      expect(n).toBeLessThan(range.base + 65535);
      expect(spec.clusterIPs).toEqual([spec.clusterIP]);
      expect(spec.ipFamilies).toEqual(['IPv4']);
      expect(spec.ipFamilyPolicy).toBe('SingleStack');
    }
    expect(new Set(made.map((r) => specOf(r.json).clusterIP)).size).toBe(3);
    expect(await claims(api)).toEqual(
      made.map((r) => [specOf(r.json).clusterIP, `default/${(r.json.metadata as { name: string }).name}`]).sort(),
    );
  });

  it('honours a chosen address in the range, given as clusterIP or as clusterIPs', async () => {
    // act
    const a = await api.send('POST', SVCS, { body: service('a', undefined, { clusterIP: '10.96.0.10' }) });
    const b = await api.send('POST', SVCS, { body: service('b', undefined, { clusterIPs: ['10.96.0.11'] }) });

    // assess
    expect(specOf(a.json)).toMatchObject({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] });
    expect(specOf(b.json)).toMatchObject({ clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] });
  });

  it('refuses ClientIP session affinity by name, since the node proxy keeps none, storing nothing', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const affinity = await api.send('POST', SVCS, {
      body: service('sticky', undefined, { sessionAffinity: 'ClientIP' }),
    });
    const config = await api.send('POST', SVCS, {
      body: service('sticky', undefined, { sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }),
    });

    // assess
    expect(affinity.status).toBe(422);
    expect(causesOf(affinity.json).map(([field]) => field)).toEqual(['spec.sessionAffinity']);
    expect(config.status).toBe(422);
    expect(causesOf(config.json).map(([field]) => field)).toEqual(['spec.sessionAffinityConfig']);
    expect(await api.snapshot()).toEqual(before);
  });

  it('refuses the traffic policies, external IPs and load balancer options it does not act on, by name', async () => {
    // prepare
    const before = await api.snapshot();
    const fields = async (extra: Record<string, unknown>) => {
      const res = await api.send('POST', SVCS, { body: service('x', undefined, { type: 'LoadBalancer', ...extra }) });
      return [res.status, causesOf(res.json).map(([field]) => field)];
    };

    // act + assess
    expect(await fields({ externalTrafficPolicy: 'Local' })).toEqual([422, ['spec.externalTrafficPolicy']]);
    expect(await fields({ internalTrafficPolicy: 'Local' })).toEqual([422, ['spec.internalTrafficPolicy']]);
    expect(await fields({ externalIPs: ['192.0.2.1'] })).toEqual([422, ['spec.externalIPs']]);
    expect(await fields({ loadBalancerSourceRanges: ['10.0.0.0/8'] })).toEqual([
      422,
      ['spec.loadBalancerSourceRanges'],
    ]);
    expect(await fields({ loadBalancerIP: '192.0.2.2' })).toEqual([422, ['spec.loadBalancerIP']]);
    expect(await api.snapshot()).toEqual(before);
    // The defaults Kubernetes writes are fine.
    expect(
      (await fields({ externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', externalIPs: [] }))[0],
    ).toBe(201);
  });

  it('refuses a taken, out-of-range, malformed, IPv6 or dual-stack choice with 422 naming the field, storing nothing', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', undefined, { clusterIP: '10.96.0.10' }) });
    const before = await api.snapshot();
    const attempt = (extra: Record<string, unknown>) =>
      api.send('POST', SVCS, { body: service('b', undefined, extra) });

    // act
    const taken = await attempt({ clusterIP: '10.96.0.10' });
    const outside = await attempt({ clusterIP: '10.97.0.1' });
    const broadcast = await attempt({ clusterIP: '10.96.255.255' });
    const hostile = [
      await attempt({ clusterIP: '10.96.0.1; rm -rf /' }),
      await attempt({ clusterIP: '010.96.0.5' }),
      await attempt({ clusterIP: '10.96.0.256' }),
      await attempt({ clusterIP: `10.96.0.${'9'.repeat(5000)}` }),
    ];
    const v6 = await attempt({ clusterIP: 'fd00::10' });
    const dual = await attempt({ clusterIPs: ['10.96.0.20', 'fd00::20'] });
    const families = await attempt({ ipFamilies: ['IPv6'] });
    const policy = await attempt({ ipFamilyPolicy: 'RequireDualStack' });
    const mismatch = await attempt({ clusterIP: '10.96.0.21', clusterIPs: ['10.96.0.22'] });
    const notString = await attempt({ clusterIP: 42 });

    // assess
    expect(taken.status).toBe(422);
    expect(causesOf(taken.json)).toEqual([
      ['spec.clusterIP', expect.stringContaining('provided IP is already allocated')],
    ]);
    expect(causesOf(outside.json)).toEqual([
      ['spec.clusterIP', expect.stringContaining('The range of valid IPs is 10.96.0.0/16')],
    ]);
    expect(causesOf(broadcast.json)[0]?.[0]).toBe('spec.clusterIP');
    for (const res of hostile) {
      expect(res.status).toBe(422);
      expect(causesOf(res.json)[0]).toEqual(['spec.clusterIP', expect.stringContaining('must be a valid IP address')]);
      expect(res.json.message?.length).toBeLessThan(1000);
    }
    expect(causesOf(v6.json)).toEqual([['spec.clusterIP', expect.stringContaining('single-stack IPv4')]]);
    expect(causesOf(dual.json).map(([f]) => f)).toContain('spec.clusterIPs[1]');
    expect(causesOf(families.json)).toEqual([['spec.ipFamilies[0]', expect.stringContaining('single-stack IPv4')]]);
    expect(causesOf(policy.json)).toEqual([['spec.ipFamilyPolicy', expect.stringContaining('single-stack IPv4')]]);
    expect(causesOf(mismatch.json)).toEqual([
      ['spec.clusterIPs[0]', expect.stringContaining('must match spec.clusterIP')],
    ]);
    expect(notString.status).toBe(422);
    expect(await api.snapshot()).toBe(before);
  });

  it('keeps the address across a PUT, a patch and a re-apply that leave it out, and refuses a change as immutable', async () => {
    // prepare
    const first = await api.send('POST', APPLY, { raw: stringify(service('web')), contentType: 'application/yaml' });
    const ip = specOf((first.json.items as { object: Record<string, unknown> }[])[0]?.object ?? {}).clusterIP;

    // act
    const reapplied = await api.send('POST', APPLY, {
      raw: stringify(service('web')),
      contentType: 'application/yaml',
    });
    const put = await api.send('PUT', `${SVCS}/web`, { body: service('web', [{ port: 81 }]) });
    const emptied = await api.send('PUT', `${SVCS}/web`, { body: service('web', [{ port: 81 }], { clusterIP: '' }) });
    const patched = await api.send('PATCH', `${SVCS}/web`, {
      body: { spec: { selector: { app: 'other' } } },
      contentType: 'application/merge-patch+json',
    });
    const changed = await api.send('PUT', `${SVCS}/web`, {
      body: service('web', undefined, { clusterIP: '10.96.0.99' }),
    });
    const before = await api.snapshot();
    const changedByApply = await api.send('POST', APPLY, {
      raw: stringify(service('web', undefined, { clusterIP: '10.96.0.99' })),
      contentType: 'application/yaml',
    });

    // assess
    expect(ip).toMatch(/^10\.96\./);
    expect((reapplied.json.items as { action: string }[])[0]?.action).toBe('unchanged');
    for (const res of [put, emptied, patched]) {
      expect(res.status).toBe(200);
      expect(specOf(res.json)).toMatchObject({ clusterIP: ip, clusterIPs: [ip] });
    }
    expect(changed.status).toBe(422);
    expect(causesOf(changed.json)).toEqual([['spec.clusterIP', expect.stringContaining('field is immutable')]]);
    expect(changedByApply.status).toBe(422);
    expect(changedByApply.json.message).toContain('spec.clusterIP');
    expect(await api.snapshot()).toBe(before);
    expect(await claims(api)).toEqual([[ip, 'default/web']]);
  });

  it('makes a headless Service with clusterIP None and an ExternalName Service with no address, claiming nothing', async () => {
    // act
    const headless = await api.send('POST', SVCS, { body: service('db', undefined, { clusterIP: 'None' }) });
    const external = await api.send('POST', SVCS, {
      body: { ...service('ext', undefined, { type: 'ExternalName', externalName: 'example.com' }) },
    });
    const reapplied = await api.send('PUT', `${SVCS}/db`, { body: service('db') });
    const noneNodePort = await api.send('POST', SVCS, {
      body: service('np', undefined, { type: 'NodePort', clusterIP: 'None' }),
    });
    const externalWithIP = await api.send('POST', SVCS, {
      body: service('ext2', undefined, { type: 'ExternalName', externalName: 'example.com', clusterIP: '10.96.0.5' }),
    });

    // assess
    expect(specOf(headless.json)).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4'] });
    expect(specOf(external.json).clusterIP).toBeUndefined();
    expect(specOf(external.json).ipFamilies).toBeUndefined();
    expect(specOf(reapplied.json).clusterIP).toBe('None');
    expect(causesOf(noneNodePort.json)).toEqual([
      ['spec.clusterIP', expect.stringContaining("may not be set to 'None' for NodePort services")],
    ]);
    expect(causesOf(externalWithIP.json)).toEqual([
      ['spec.clusterIP', expect.stringContaining('may not be set for ExternalName services')],
    ]);
    expect(await claims(api)).toEqual([]);
  });

  it('releases the address on delete and when the type becomes ExternalName, for the next Service to take', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', undefined, { clusterIP: '10.96.0.10' }) });
    await api.send('POST', SVCS, { body: service('b', undefined, { clusterIP: '10.96.0.11' }) });

    // act
    await api.send('DELETE', `${SVCS}/a`);
    const toExternal = await api.send('PUT', `${SVCS}/b`, {
      body: service('b', undefined, { type: 'ExternalName', externalName: 'example.com' }),
    });
    const again = await api.send('POST', SVCS, { body: service('c', undefined, { clusterIP: '10.96.0.10' }) });
    const backToIP = await api.send('PUT', `${SVCS}/b`, { body: service('b') });

    // assess
    expect(toExternal.status).toBe(200);
    expect(specOf(toExternal.json).clusterIP).toBeUndefined();
    expect(again.status).toBe(201);
    expect(backToIP.status).toBe(200);
    expect(specOf(backToIP.json).clusterIP).toMatch(/^10\.96\./);
    expect(await claims(api)).toEqual(
      [
        ['10.96.0.10', 'default/c'],
        [specOf(backToIP.json).clusterIP, 'default/b'],
      ].sort(),
    );
  });

  it('apply writes nothing when two Services of a bundle choose one address, or one is taken', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', undefined, { clusterIP: '10.96.0.10' }) });
    const before = await api.snapshot();
    const bundle = (...objs: unknown[]) => ({
      raw: objs.map((o) => stringify(o)).join('---\n'),
      contentType: 'application/yaml',
    });

    // act
    const twice = await api.send(
      'POST',
      APPLY,
      bundle(
        service('x', undefined, { clusterIP: '10.96.0.20' }),
        service('z', undefined, { clusterIP: '10.96.0.20' }),
      ),
    );
    const taken = await api.send(
      'POST',
      APPLY,
      bundle(service('x'), service('z', undefined, { clusterIP: '10.96.0.10' })),
    );

    // assess
    expect(twice.status).toBe(422);
    expect(twice.json.message).toContain(
      '[1] Service default/z: spec.clusterIP: 10.96.0.20 is also chosen by [0] Service default/x',
    );
    expect(taken.status).toBe(422);
    expect(taken.json.message).toContain('[1] Service default/z: spec.clusterIP');
    expect(taken.json.message).toContain('already allocated');
    expect(await api.snapshot()).toBe(before);
  });

  it('hands out addresses above the static band first and never the network, broadcast or first address', () => {
    // prepare
    const range = parseServiceRange('10.96.0.0/24');

    // act
    const order = [...candidates(range, () => 0)].map(formatIPv4);

    // assess
    expect(order).toHaveLength(253);
    expect(order[0]).toBe('10.96.0.16');
    expect(order.slice(0, 238).every((ip) => (parseIPv4(ip) as number) >= (parseIPv4('10.96.0.16') as number))).toBe(
      true,
    );
    expect(order).not.toContain('10.96.0.0');
    expect(order).not.toContain('10.96.0.1');
    expect(order).not.toContain('10.96.0.255');
    expect(new Set(order).size).toBe(253);
  });

  it('refuses a service range that is not an IPv4 CIDR it can allocate from', () => {
    for (const bad of ['10.96.0.0', '10.96.0.0/8', '10.96.0.0/31', 'fd00::/112', '10.96.0.1/16', '; reboot']) {
      expect(() => parseServiceRange(bad)).toThrow(/service cluster IP range/);
    }
    expect(parseServiceRange(' 10.0.0.0/12 ').text).toBe('10.0.0.0/12');
  });

  it('answers 503 when the range is full, and uses a configured range', async () => {
    // prepare: a /29 has 5 addresses to hand out (not the network, broadcast or first one).
    api = await startApi(undefined, { serviceRange: parseServiceRange('10.100.0.0/29') });
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await api.send('POST', SVCS, { body: service(`s${i}`) }));
    const before = await api.snapshot();

    // act
    const full = await api.send('POST', SVCS, { body: service('full') });

    // assess
    expect(made.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(made.map((r) => specOf(r.json).clusterIP).sort()).toEqual(
      ['10.100.0.2', '10.100.0.3', '10.100.0.4', '10.100.0.5', '10.100.0.6'].sort(),
    );
    expect(full.status).toBe(503);
    expect(full.json.message).toContain('no cluster IP is free in the range 10.100.0.0/29');
    expect(await api.snapshot()).toBe(before);
  });

  it('never hands one address to two Services created at the same time', async () => {
    // prepare
    api = await startApi(undefined, { serviceRange: parseServiceRange('10.100.0.0/28') });

    // act: 13 addresses to hand out, 20 creates at once.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api.send('POST', SVCS, { body: service(`s${i}`) })),
    );

    // assess
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(13);
    expect(results.filter((r) => r.status === 503)).toHaveLength(7);
    expect(new Set(ok.map((r) => specOf(r.json).clusterIP)).size).toBe(13);
    expect(await claims(api)).toHaveLength(13);
  });
});

describe('cluster IPs on SQLite shared by two API processes', () => {
  let dir: string;
  const open = () => openStore({ backend: 'sqlite', path: join(dir, 'ferry.db'), clock: () => T0 });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-cluster-ip-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('never hands one address to two Services created at once through two store handles on one file', async () => {
    // prepare: a second API core over its own handle, as a second process would have.
    const serviceRange = parseServiceRange('10.100.0.0/28');
    const one = await startApi(await open(), { serviceRange });
    const otherStore = await open();
    const other = createApiHandler({
      store: otherStore,
      clock: () => T0,
      log: silentLogger,
      config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: 'test', serviceRange },
    });
    const viaOther = async (name: string) => {
      const res = await other({
        method: 'POST',
        path: SVCS,
        query: new URLSearchParams(),
        headers: { authorization: `Bearer ${one.admin}`, 'content-type': 'application/json' },
        body: new TextEncoder().encode(JSON.stringify(service(name))),
      });
      return { status: res.status, json: JSON.parse(res.body) as Record<string, unknown> };
    };

    // act
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? one.send('POST', SVCS, { body: service(`s${i}`) }) : viaOther(`s${i}`),
      ),
    );

    // assess
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(13);
    expect(new Set(ok.map((r) => specOf(r.json).clusterIP)).size).toBe(13);
    expect(await claims(one)).toHaveLength(13);
    await one.store.close();
    await otherStore.close();
  });
});

describe('the cluster IP repair pass', () => {
  it('releases a claim no Service holds once it is old enough, and keeps held and young ones', async () => {
    // prepare
    const api = await startApi();
    const held = await api.send('POST', SVCS, { body: service('web') });
    const ip = specOf(held.json).clusterIP as string;
    await api.store.create(clusterIPClaimRecord('10.96.0.50', 'default/gone', T0));
    await api.store.create(clusterIPClaimRecord('10.96.0.51', 'default/web', T0));
    await api.store.create(clusterIPClaimRecord('10.96.0.52', 'default/inflight', T0 + 59_000));
    const deps = { store: api.store, clock: () => T0 + 60_000, log: createLogger('silent') };

    // act
    await repairClusterIPs(deps);

    // assess
    expect(await claims(api)).toEqual(
      [
        [ip, 'default/web'],
        ['10.96.0.52', 'default/inflight'],
      ].sort(),
    );
  });
});
