import { beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { deployment, service, startApi, type TestApi } from './harness';

const SVCS = '/api/v1/namespaces/default/services';
const APPLY = '/apis/ferry.dev/v1/apply';

type Port = { name?: string; port: number; nodePort?: number; targetPort?: number | string; protocol?: string };
const portsOf = (json: Record<string, unknown>) => (json.spec as { ports: Port[] }).ports;
/** The claims of the Services a test made (the built-in `kubernetes` Service holds one of its own). */
const claims = async (api: TestApi) =>
  (await api.store.list('NodePortClaim')).items
    .map((c) => [Number(c.metadata.name), (c.spec as { service: string }).service])
    .filter(([, owner]) => owner !== 'default/kubernetes');

describe('Service node ports', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('allocates a node port in the range for every port of every Service, ClusterIP included, with Kubernetes defaults', async () => {
    // act
    const res = await api.send('POST', SVCS, {
      body: service('web', [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'metrics', port: 9090 },
      ]),
    });

    // assess
    expect(res.status).toBe(201);
    const spec = res.json.spec as Record<string, unknown>;
    expect(spec.type).toBe('ClusterIP');
    const ports = portsOf(res.json);
    expect(ports.map((p) => [p.port, p.targetPort, p.protocol])).toEqual([
      [80, 8080, 'TCP'],
      [9090, 9090, 'TCP'],
    ]);
    for (const p of ports) expect(p.nodePort).toBeGreaterThanOrEqual(30000);
    for (const p of ports) expect(p.nodePort).toBeLessThanOrEqual(32767);
    expect(ports[0]?.nodePort).not.toBe(ports[1]?.nodePort);
    expect((await claims(api)).sort()).toEqual(ports.map((p) => [p.nodePort, 'default/web']).sort());
  });

  it('refuses a chosen node port another Service holds with 422 naming the field, and stores nothing', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', [{ port: 80, nodePort: 30080 }]) });
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', SVCS, {
      body: service('b', [
        { name: 'x', port: 81 },
        { name: 'y', port: 80, nodePort: 30080 },
      ]),
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes).toEqual([
      expect.objectContaining({
        field: 'spec.ports[1].nodePort',
        message: expect.stringContaining('already allocated'),
      }),
    ]);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses node ports outside the range or chosen twice, with every field named', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', SVCS, {
      body: service('c', [
        { name: 'a', port: 80, nodePort: 8080 },
        { name: 'b', port: 81, nodePort: 30001 },
        { name: 'c', port: 82, nodePort: 30001 },
      ]),
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toEqual(['spec.ports[0].nodePort', 'spec.ports[2].nodePort']);
    expect(res.json.details?.causes?.[1]?.message).toBe('Duplicate value: 30001');
    expect(res.json.message).toContain('The range of valid ports is 30000-32767');
    expect(await api.snapshot()).toBe(before);
  });

  it('keeps allocated node ports across a PUT that omits them, and releases a removed port for others', async () => {
    // prepare
    const created = await api.send('POST', SVCS, {
      body: service('web', [
        { name: 'http', port: 80 },
        { name: 'admin', port: 81 },
      ]),
    });
    const [http, admin] = portsOf(created.json).map((p) => p.nodePort);

    // act
    const put = await api.send('PUT', `${SVCS}/web`, {
      body: { ...service('web', [{ name: 'http', port: 80 }]), metadata: { name: 'web', namespace: 'default' } },
    });
    const other = await api.send('POST', SVCS, { body: service('other', [{ port: 80, nodePort: admin }]) });

    // assess
    expect(put.status).toBe(200);
    expect(portsOf(put.json)).toEqual([expect.objectContaining({ port: 80, nodePort: http })]);
    expect(other.status).toBe(201);
    expect((await claims(api)).sort()).toEqual(
      [
        [http, 'default/web'],
        [admin, 'default/other'],
      ].sort(),
    );
  });

  it('releases node ports when the Service or its namespace is deleted', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
    });
    await api.send('POST', SVCS, { body: service('web', [{ port: 80, nodePort: 30100 }]) });
    await api.send('POST', '/api/v1/namespaces/team/services', {
      body: service('api', [{ port: 80, nodePort: 30101 }], {}, 'team'),
    });

    // act
    const deleted = await api.send('DELETE', `${SVCS}/web`);
    const nsDeleted = await api.send('DELETE', '/api/v1/namespaces/team');

    // assess
    expect(deleted.status).toBe(200);
    expect(nsDeleted.status).toBe(200);
    expect(await claims(api)).toEqual([]);
    expect((await api.send('POST', SVCS, { body: service('again', [{ port: 80, nodePort: 30100 }]) })).status).toBe(
      201,
    );
  });

  it('a dry run reports a taken node port but claims nothing', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', [{ port: 80, nodePort: 30080 }]) });
    const before = await api.snapshot();

    // act
    const taken = await api.send('POST', SVCS, {
      body: service('b', [{ port: 80, nodePort: 30080 }]),
      query: { dryRun: 'All' },
    });
    const free = await api.send('POST', SVCS, { body: service('c'), query: { dryRun: 'All' } });

    // assess
    expect(taken.status).toBe(422);
    expect(free.status).toBe(201);
    expect(await api.snapshot()).toBe(before);
  });

  it('answers 503 when the range is full and stores nothing', async () => {
    // prepare
    // Three ports: one is the built-in kubernetes Service's.
    api = await startApi(undefined, { nodePortRange: { min: 30000, max: 30002 } });
    await api.send('POST', SVCS, {
      body: service('a', [
        { name: 'x', port: 80 },
        { name: 'y', port: 81 },
      ]),
    });
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', SVCS, { body: service('b') });

    // assess
    expect(res.status).toBe(503);
    expect(res.json.message).toContain('no node port is free in the range 30000-30002');
    expect(await api.snapshot()).toBe(before);
  });

  it('never hands one node port to two Services created at the same time', async () => {
    // prepare
    // 21 ports: 20 for these, one the built-in kubernetes Service's.
    api = await startApi(undefined, { nodePortRange: { min: 30000, max: 30020 } });

    // act
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => api.send('POST', SVCS, { body: service(`s${i}`) })),
    );

    // assess
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(20);
    expect(results.filter((r) => r.status === 503)).toHaveLength(5);
    const ports = ok.map((r) => portsOf(r.json)[0]?.nodePort);
    expect(new Set(ports).size).toBe(20);
    expect(await claims(api)).toHaveLength(20);
  });

  it('apply writes nothing when a bundled Service chooses a taken node port, and keeps ports on re-apply', async () => {
    // prepare
    await api.send('POST', SVCS, { body: service('a', [{ port: 80, nodePort: 30080 }]) });
    const first = await api.send('POST', APPLY, { raw: stringify(service('web')), contentType: 'application/yaml' });
    const allocated = portsOf((first.json.items as { object: Record<string, unknown> }[])[0]?.object ?? {})[0]
      ?.nodePort;
    const before = await api.snapshot();

    // act
    const bad = await api.send('POST', APPLY, {
      raw: [deployment('db'), service('db', [{ port: 5432, nodePort: 30080 }])].map((o) => stringify(o)).join('---\n'),
      contentType: 'application/yaml',
    });
    const twice = await api.send('POST', APPLY, {
      // Not `y`: YAML 1.1 (as kubectl reads it) makes a bare y the boolean true.
      raw: [service('x', [{ port: 1, nodePort: 30500 }]), service('z', [{ port: 1, nodePort: 30500 }])]
        .map((o) => stringify(o))
        .join('---\n'),
      contentType: 'application/yaml',
    });
    const again = await api.send('POST', APPLY, { raw: stringify(service('web')), contentType: 'application/yaml' });

    // assess
    expect(bad.status).toBe(422);
    expect(bad.json.message).toContain('[1] Service default/db: spec.ports[0].nodePort');
    expect(twice.status).toBe(422);
    expect(twice.json.message).toContain('also chosen by');
    expect((again.json.items as { action: string }[])[0]?.action).toBe('unchanged');
    expect(await api.snapshot()).toBe(before);
    expect(allocated).toBeGreaterThanOrEqual(30000);
  });
});
