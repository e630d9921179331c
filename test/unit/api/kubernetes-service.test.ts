/**
 * The built-in `kubernetes` Service in `default`: made at the API's start at the range's first
 * address, that address refused to every other Service, and made again or put back after a user
 * deletes or edits it, as kube-apiserver does. A start with it in place costs one get.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureDefaults } from '../../../functions/api';
import { parseServiceRange } from '../../../functions/cluster-ips';
import { reconcileEndpoints } from '../../../functions/controllers/endpoints';
import { SERVICE_ROUTE_KIND } from '../../../functions/service-routes';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { countingStore } from '../../helpers/store-calls';
import { service, startApi, T0 } from './harness';

const PATH = '/api/v1/namespaces/default/services/kubernetes';
const SVCS = '/api/v1/namespaces/default/services';
type Port = { name?: string; port: number; protocol?: string; targetPort?: number; nodePort?: number };
type Spec = { type?: string; clusterIP?: string; clusterIPs?: string[]; ports: Port[]; selector?: unknown };
const specOf = (json: Record<string, unknown>) => json.spec as Spec;
const fieldsOf = (json: Record<string, unknown>) =>
  ((json.details as { causes?: { field: string; message: string }[] } | undefined)?.causes ?? []).map((c) => c.field);

describe('the kubernetes Service', () => {
  it('exists after the start: ClusterIP at the first address of the range, port 443 named https, no selector', async () => {
    const api = await startApi();

    const res = await api.send('GET', PATH);

    expect(res.status).toBe(200);
    expect(res.json.metadata).toMatchObject({ labels: { component: 'apiserver', provider: 'kubernetes' } });
    const spec = specOf(res.json);
    expect(spec).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'] });
    expect(spec.ports).toHaveLength(1);
    expect(spec.ports[0]).toMatchObject({ name: 'https', port: 443, protocol: 'TCP', targetPort: 443 });
    expect(spec.selector).toBeUndefined();
    const claim = await api.store.get<Obj & { spec: { service: string } }>({
      kind: 'ClusterIPClaim',
      name: '10.96.0.1',
    });
    expect(claim?.spec.service).toBe('default/kubernetes');
  });

  it("takes the configured range's first address", async () => {
    const api = await startApi(undefined, { serviceRange: parseServiceRange('10.100.0.0/16') });
    expect(specOf((await api.send('GET', PATH)).json).clusterIP).toBe('10.100.0.1');
  });

  it('refuses the first address to any other Service, by create and by apply, naming the field', async () => {
    const api = await startApi();
    const before = await api.snapshot();

    const created = await api.send('POST', SVCS, {
      body: service('sneaky', [{ port: 80 }], { clusterIP: '10.96.0.1' }),
    });
    const applied = await api.send('POST', '/apis/ferry.dev/v1/apply', {
      raw: stringify(service('sneaky', [{ port: 80 }], { clusterIP: '10.96.0.1' })),
      contentType: 'application/yaml',
    });

    expect(created.status).toBe(422);
    expect(fieldsOf(created.json)).toEqual(['spec.clusterIP']);
    expect(created.json.message).toContain('reserved for the kubernetes Service');
    expect(applied.status).toBe(422);
    expect(applied.json.message).toContain('reserved for the kubernetes Service');
    expect(await api.snapshot()).toBe(before);
  });

  it('costs one get at a start that finds it in place, and writes nothing', async () => {
    const api = await startApi();
    const { store, calls } = countingStore(api.store);

    await ensureDefaults({ ...api.deps, store });

    expect(calls.filter((c) => c.endsWith(' Service'))).toEqual(['get Service']);
    expect(calls.filter((c) => /^(create|update|delete|transact|writeBatch) /.test(c))).toEqual([]);
  });

  it('is made again at once when deleted, at the same address', async () => {
    const api = await startApi();
    const uid = ((await api.send('GET', PATH)).json.metadata as { uid: string }).uid;

    const deleted = await api.send('DELETE', PATH);
    const again = await api.send('GET', PATH);

    expect(deleted.status).toBe(200);
    expect(again.status).toBe(200);
    expect((again.json.metadata as { uid: string }).uid).not.toBe(uid);
    expect(specOf(again.json).clusterIP).toBe('10.96.0.1');
    const owners = (await api.store.list<Obj & { spec: { service: string } }>('NodePortClaim')).items.map(
      (c) => c.spec.service,
    );
    expect(owners.filter((o) => o === 'default/kubernetes')).toHaveLength(1);
  });

  it('gets its type and port back after an edit, keeping the labels a user added, with one node port', async () => {
    const api = await startApi();

    const patched = await api.send('PATCH', PATH, {
      body: {
        metadata: { labels: { team: 'platform' } },
        spec: { type: 'NodePort', ports: [{ name: 'https', port: 8443, targetPort: 8443 }] },
      },
      contentType: 'application/merge-patch+json',
    });
    const after = await api.send('GET', PATH);

    expect(patched.status).toBe(200);
    const spec = specOf(after.json);
    expect(spec.type).toBe('ClusterIP');
    const claims = (await api.store.list<Obj & { spec: { service: string } }>('NodePortClaim')).items;
    const nodePort = Number(claims.find((c) => c.spec.service === 'default/kubernetes')?.metadata.name);
    expect(claims.filter((c) => c.spec.service === 'default/kubernetes')).toHaveLength(1);
    expect(spec.ports).toEqual([{ name: 'https', port: 443, protocol: 'TCP', targetPort: 443, nodePort }]);
    expect((after.json.metadata as { labels: Record<string, string> }).labels).toMatchObject({
      team: 'platform',
      component: 'apiserver',
    });
  });

  it('gets its port back after a re-apply that changes it', async () => {
    const api = await startApi();
    const res = await api.send('POST', '/apis/ferry.dev/v1/apply', {
      raw: stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubernetes', namespace: 'default' },
        spec: { clusterIP: '10.96.0.1', ports: [{ name: 'web', port: 80 }] },
      }),
      contentType: 'application/yaml',
    });
    expect(res.status).toBe(200);
    expect(specOf((await api.send('GET', PATH)).json).ports[0]).toMatchObject({ name: 'https', port: 443 });
  });

  it('is made once when two API processes start on one store at the same time', async () => {
    const store = new MemoryStore(() => T0);
    const deps = { store, clock: () => T0, log: (await startApi()).deps.log };

    await Promise.all([ensureDefaults(deps), ensureDefaults(deps), ensureDefaults(deps)]);

    const services = (await store.list('Service', { namespace: 'default' })).items;
    expect(services.map((s) => s.metadata.name)).toEqual(['kubernetes']);
    const owners = (await store.list<Obj & { spec: { service: string } }>('NodePortClaim')).items;
    expect(owners).toHaveLength(1);
    expect((await store.list('ClusterIPClaim')).items.map((c) => c.metadata.name)).toEqual(['10.96.0.1']);
  });

  it('has a route every node gets: its cluster IP and port 443, and no endpoints of its own', async () => {
    const api = await startApi();

    await reconcileEndpoints(api.deps);

    const route = await api.store.get<Obj & { spec: unknown }>({
      kind: SERVICE_ROUTE_KIND,
      namespace: 'default',
      name: 'kubernetes',
    });
    expect(route?.spec).toMatchObject({
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', endpoints: [] }],
    });
  });
});

describe('the kubernetes Service when it cannot be made', () => {
  it('lets the API start and says why when another Service already holds the first address', async () => {
    const store = new MemoryStore(() => T0);
    await store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'ClusterIPClaim',
      metadata: { name: '10.96.0.1' },
      spec: { service: 'default/old', claimedAt: T0 },
    });
    const warnings: string[] = [];
    const base = (await startApi()).deps;
    const log = { ...base.log, warn: (msg: string) => void warnings.push(msg) };

    await ensureDefaults({ ...base, store, log });

    expect(await store.get({ kind: 'Service', namespace: 'default', name: 'kubernetes' })).toBeUndefined();
    expect((await store.list('NodePortClaim')).items).toEqual([]); // the node port it claimed went back
    expect(warnings.join('\n')).toContain('the kubernetes Service cannot be made');
  });
});
