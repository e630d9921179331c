/**
 * apply's commit (issue 18 finding 11): the whole bundle, with its Services' node port claims, goes
 * to the store in one `transact`; a failed commit leaves nothing, a lost race is re-planned.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FerryError } from '../../../functions/errors';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj, StateStore, TransactOp } from '../../../functions/store/types';
import { configMap, startApi, T0 } from './harness';

const APPLY = '/apis/ferry.dev/v1/apply';

function service(name: string, ports: { name?: string; port: number; nodePort?: number }[] = [{ port: 80 }]) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports } };
}

/** A MemoryStore that records every write call and can be told what to do on the next transact. */
function recordingStore() {
  const inner = new MemoryStore(() => T0);
  const calls: string[] = [];
  let beforeTransact: ((ops: TransactOp[]) => Promise<void>) | undefined;
  const record = <R>(call: string, write: () => R): R => {
    calls.push(call);
    return write();
  };
  const store: StateStore = Object.assign(Object.create(inner) as StateStore, {
    create: (o: Obj) => record(`create ${o.kind}`, () => inner.create(o)),
    update: (o: Obj) => record(`update ${o.kind}`, () => inner.update(o)),
    delete: (...args: Parameters<StateStore['delete']>) =>
      record(`delete ${args[0].kind}`, () => inner.delete(...args)),
    transact: async (ops: TransactOp[]) => {
      calls.push(`transact ${ops.length}`);
      const hook = beforeTransact;
      beforeTransact = undefined;
      await hook?.(ops);
      return inner.transact(ops);
    },
  });
  return { store, inner, calls, nextTransact: (hook: (ops: TransactOp[]) => Promise<void>) => (beforeTransact = hook) };
}

/** The claims of the Services a test made (the built-in `kubernetes` Service holds its own). */
async function ours(store: StateStore, kind: string): Promise<(Obj & { spec: { service: string } })[]> {
  const items = (await store.list(kind)).items as (Obj & { spec: { service: string } })[];
  return items.filter((c) => c.spec.service !== 'default/kubernetes');
}

const bundle = (...objs: unknown[]) => ({
  raw: objs.map((o) => stringify(o)).join('---\n'),
  contentType: 'application/yaml',
});

describe('apply commits its bundle in one transaction', () => {
  it('writes every object, node port claim and cluster IP claim in one transact call and nothing on its own', async () => {
    const { store, calls } = recordingStore();
    const api = await startApi(store);
    calls.length = 0;

    const res = await api.send('POST', APPLY, bundle(configMap('a'), configMap('b'), service('web'), service('api')));

    expect(res.status).toBe(200);
    // 4 objects, 2 node port claims and 2 cluster IP claims.
    expect(calls).toEqual(['transact 8']);
    const claims = await ours(store, 'NodePortClaim');
    expect(claims.map((c) => c.spec.service).sort()).toEqual(['default/api', 'default/web']);
    const ipClaims = await ours(store, 'ClusterIPClaim');
    expect(ipClaims.map((c) => c.spec.service).sort()).toEqual(['default/api', 'default/web']);
    const ports = (res.json.items as { object: { spec?: { ports?: { nodePort: number }[] } } }[])
      .map((i) => i.object.spec?.ports?.[0]?.nodePort)
      .filter((p) => p !== undefined);
    expect(new Set(ports).size).toBe(2);
    expect(claims.map((c) => Number(c.metadata.name)).sort()).toEqual([...ports].sort());
  });

  it('a commit the store fails leaves nothing behind, node port claims included', async () => {
    const { store, nextTransact } = recordingStore();
    const api = await startApi(store);
    const before = await api.snapshot();
    nextTransact(async () => {
      throw new FerryError(503, 'ServiceUnavailable', 'the store went away');
    });

    const res = await api.send('POST', APPLY, bundle(configMap('a'), service('web', [{ port: 80, nodePort: 30080 }])));

    expect(res.status).toBe(503);
    expect(await api.snapshot()).toBe(before);
  });

  it('a write to a bundled object between plan and commit fails the commit whole; it is re-planned and lands', async () => {
    const { store, inner, calls, nextTransact } = recordingStore();
    const api = await startApi(store);
    await api.send('POST', APPLY, bundle(configMap('a'), configMap('b')));
    nextTransact(async () => {
      const b = (await inner.get({ kind: 'ConfigMap', namespace: 'default', name: 'b' })) as Obj;
      await inner.update({ ...b, metadata: { ...b.metadata, annotations: { racer: 'yes' } } });
    });
    calls.length = 0;

    const res = await api.send(
      'POST',
      APPLY,
      bundle({ ...configMap('a'), data: { v: '2' } }, { ...configMap('b'), data: { v: '2' } }),
    );

    expect(res.status).toBe(200);
    expect(calls).toEqual(['transact 2', 'transact 2']);
    const b = await inner.get({ kind: 'ConfigMap', namespace: 'default', name: 'b' });
    expect(b?.data).toEqual({ v: '2' });
  });

  it('releases the claim of a port a re-apply drops, in the same commit, and keeps the others', async () => {
    const { store, calls } = recordingStore();
    const api = await startApi(store);
    const first = await api.send(
      'POST',
      APPLY,
      bundle(
        service('web', [
          { name: 'http', port: 80 },
          { name: 'alt', port: 81 },
        ]),
      ),
    );
    const ports = (first.json.items as { object: { spec: { ports: { port: number; nodePort: number }[] } } }[])[0]
      ?.object.spec.ports;
    calls.length = 0;

    const second = await api.send('POST', APPLY, bundle(service('web', [{ name: 'http', port: 80 }])));

    expect(second.status).toBe(200);
    expect(calls).toEqual(['transact 2']);
    const claims = (await ours(store, 'NodePortClaim')).map((c) => Number(c.metadata.name));
    expect(claims).toEqual([ports?.find((p) => p.port === 80)?.nodePort]);
  });
});
