/**
 * The ingress controller with the real API, sync protocol and controller manager: which
 * Ingresses ferry serves, the table and certificates a node's sync carries (and only when they
 * moved), TLS Secrets by reference, status.loadBalancer, and the provider's load balancer.
 */
import { describe, expect, it } from 'vitest';
import { HELD_SYNC } from '../../../functions/api/agent/modes';
import { createControllerManager } from '../../../functions/controllers/manager';
import { INGRESS_TABLE_REF } from '../../../functions/ingress-table';
import { FakeProvider } from '../../../providers/fake';
import type { IngressTable, SyncResponse } from '../../../schemas/agent-protocol';
import { selfSigned } from '../../helpers/certs';
import { setup } from '../api/agent-protocol-harness';

const INGS = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
const CLASSES = '/apis/networking.k8s.io/v1/ingressclasses';
const SECRETS = '/api/v1/namespaces/default/secrets';

const ingress = (name: string, extra: Record<string, unknown> = {}, host = 'shop.example.com') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name },
  spec: {
    rules: [
      {
        host,
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
            {
              path: '/api',
              pathType: 'ImplementationSpecific',
              backend: { service: { name: 'api', port: { name: 'http' } } },
            },
          ],
        },
      },
    ],
    ...extra,
  },
});
const tlsSecret = (name: string, pair: { cert: string; key: string }) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from(pair.cert).toString('base64'), 'tls.key': Buffer.from(pair.key).toString('base64') },
});
const mode = { ...HELD_SYNC, hold: false };

describe('the ingress controller and the sync ingress section', () => {
  it('makes the built-in default IngressClass and serves an Ingress without a class through it', async () => {
    // prepare
    const t = await setup(mode);
    await t.api.send('POST', INGS, { body: ingress('shop') });

    // act
    await t.controllers.runOnce();
    const first = await t.sync();

    // assess
    const cls = await t.api.send('GET', `${CLASSES}/ferry`);
    expect(cls.json.spec).toEqual({ controller: 'ferry.dev/ingress' });
    expect((cls.json.metadata as { annotations: Record<string, string> }).annotations).toEqual({
      'ingressclass.kubernetes.io/is-default-class': 'true',
    });
    const table = first.json.ingress as unknown as IngressTable;
    expect(table.rules.map((r) => [r.host, r.path, r.pathType, r.backend.name, r.backend.port])).toEqual([
      ['shop.example.com', '/', 'Prefix', 'web', 80],
      ['shop.example.com', '/api', 'Prefix', 'api', 'http'],
    ]);
    const status = (await t.api.send('GET', `${INGS}/shop`)).json.status as { loadBalancer: { ingress: unknown[] } };
    expect(status.loadBalancer.ingress).toEqual([{ ip: '10.0.0.1' }]);
  });

  it('keeps a quiet sync one read once the node holds the table, and sends it again only when it moves', async () => {
    // prepare
    const t = await setup(mode);
    await t.api.send('POST', INGS, { body: ingress('shop') });
    await t.controllers.runOnce();
    const first = await t.sync();

    // act
    t.counter.calls.length = 0;
    t.counter.state.on = true;
    const quiet = await t.syncAfter(first);
    t.counter.state.on = false;
    await t.api.send('POST', INGS, { body: ingress('blog', {}, 'blog.example.com') });
    await t.controllers.runOnce();
    const moved = await t.syncAfter(quiet);

    // assess
    expect(quiet.json.ingress).toBeUndefined();
    expect(t.counter.calls).toEqual([{ method: 'get', kind: 'NodeDesired' }]);
    const hosts = (moved.json.ingress as unknown as IngressTable).rules.map((r) => r.host);
    expect(new Set(hosts)).toEqual(new Set(['shop.example.com', 'blog.example.com']));
    expect((moved.json.versions as SyncResponse['versions']).ingress).not.toBe(
      (first.json.versions as SyncResponse['versions']).ingress,
    );
  });

  it('sends TLS certificates from kubernetes.io/tls Secrets by SNI host, keeps only references in its record, and moves on renewal', async () => {
    // prepare
    const t = await setup(mode);
    const pair = selfSigned(['shop.example.com']);
    await t.api.send('POST', SECRETS, { body: tlsSecret('shop-tls', pair) });
    await t.api.send('POST', INGS, {
      body: ingress('shop', { tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }] }),
    });
    await t.controllers.runOnce();

    // act
    const first = await t.sync();
    const renewed = selfSigned(['shop.example.com']);
    const current = await t.api.send('GET', `${SECRETS}/shop-tls`);
    await t.api.send('PUT', `${SECRETS}/shop-tls`, {
      body: { ...tlsSecret('shop-tls', renewed), metadata: current.json.metadata },
    });
    await t.controllers.runOnce();
    const after = await t.syncAfter(first);

    // assess
    const tls = (first.json.ingress as unknown as IngressTable).tls;
    expect(tls).toEqual([{ ingress: 'default/shop', hosts: ['shop.example.com'], cert: pair.cert, key: pair.key }]);
    const record = await t.api.store.get(INGRESS_TABLE_REF);
    expect(JSON.stringify(record)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(record)).not.toContain(Buffer.from(pair.key).toString('base64').slice(0, 40));
    expect((after.json.ingress as unknown as IngressTable).tls[0]?.cert).toBe(renewed.cert);
  });

  it('leaves out a TLS entry whose Secret is missing or not kubernetes.io/tls, and says so in a Warning Event', async () => {
    // prepare
    const t = await setup(mode);
    await t.api.send('POST', SECRETS, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'opaque' },
        data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' },
      },
    });
    await t.api.send('POST', INGS, {
      body: ingress('shop', { tls: [{ secretName: 'opaque' }, { secretName: 'missing' }] }),
    });

    // act
    await t.controllers.runOnce();
    const res = await t.sync();

    // assess
    expect((res.json.ingress as unknown as IngressTable).tls).toEqual([]);
    const events = (await t.api.store.list('Event', { namespace: 'default' })).items as unknown as {
      reason: string;
      message: string;
    }[];
    const reasons = events.filter((e) => e.reason === 'TLSSecretUnusable').map((e) => e.message);
    expect(reasons.some((m) => m.includes('"opaque"'))).toBe(true);
    expect(reasons.some((m) => m.includes('"missing" not found'))).toBe(true);
  });

  it('leaves Ingresses of another class alone, status included, and serves those of a second class of its own controller', async () => {
    // prepare
    const t = await setup(mode);
    for (const [name, controller] of [
      ['nginx', 'k8s.io/ingress-nginx'],
      ['mine', 'ferry.dev/ingress'],
    ])
      await t.api.send('POST', CLASSES, {
        body: { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller } },
      });
    await t.api.send('POST', INGS, { body: ingress('theirs', { ingressClassName: 'nginx' }, 'theirs.example.com') });
    await t.api.send('POST', INGS, { body: ingress('ours', { ingressClassName: 'mine' }, 'ours.example.com') });

    // act
    await t.controllers.runOnce();
    const res = await t.sync();

    // assess
    const hosts = new Set((res.json.ingress as unknown as IngressTable).rules.map((r) => r.host));
    expect(hosts).toEqual(new Set(['ours.example.com']));
    expect((await t.api.send('GET', `${INGS}/theirs`)).json.status).toBeUndefined();
  });

  it('puts the provider load balancer in front of every node ingress port and reports its address', async () => {
    // prepare
    const t = await setup(mode);
    const provider = new FakeProvider();
    const controllers = createControllerManager(t.api.deps, { provider });
    await t.api.send('POST', INGS, { body: ingress('shop') });

    // act
    await controllers.runOnce();
    await controllers.runOnce();

    // assess
    const lb = provider.loadBalancers.get('kube-system/ferry-ingress');
    expect(lb?.service.ports.map((p) => [p.port, p.nodePort])).toEqual([
      [80, 80],
      [443, 443],
    ]);
    expect(lb?.nodes.map((n) => n.address)).toEqual(['10.0.0.1']);
    expect(provider.calls.filter((c) => c.method === 'ensureLoadBalancer')).toHaveLength(1);
    const status = (await t.api.send('GET', `${INGS}/shop`)).json.status as {
      loadBalancer: { ingress: { ip?: string }[] };
    };
    expect(status.loadBalancer.ingress).toEqual([{ hostname: 'ferry-ingress.kube-system.fake.example' }]);

    // act: the last Ingress goes, and its load balancer with it
    await t.api.send('DELETE', `${INGS}/shop`);
    await controllers.runOnce();

    // assess
    expect(provider.loadBalancers.has('kube-system/ferry-ingress')).toBe(false);
  });

  it('names the ports a load balancer moved to when it could not take 80 and 443', async () => {
    // prepare
    class Moved extends FakeProvider {
      override async ensureLoadBalancer(...args: Parameters<FakeProvider['ensureLoadBalancer']>) {
        await super.ensureLoadBalancer(...args);
        return {
          ip: '127.0.2.9',
          ports: [
            { port: 40080, protocol: 'TCP' },
            { port: 40443, protocol: 'TCP' },
          ],
        };
      }
    }
    const t = await setup(mode);
    const controllers = createControllerManager(t.api.deps, { provider: new Moved() });
    await t.api.send('POST', INGS, { body: ingress('shop') });

    // act
    await controllers.runOnce();

    // assess
    const status = (await t.api.send('GET', `${INGS}/shop`)).json.status as { loadBalancer: { ingress: unknown[] } };
    expect(status.loadBalancer.ingress).toEqual([
      {
        ip: '127.0.2.9',
        ports: [
          { port: 40080, protocol: 'TCP' },
          { port: 40443, protocol: 'TCP' },
        ],
      },
    ]);
  });
});
