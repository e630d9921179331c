/**
 * End-to-end on real Docker: Ingress. A 2-node local cluster; two Deployments of busybox httpd
 * (`web` and `api`, each answering with its own name) behind two Services; one Ingress routing two
 * hosts and two paths to them, plus a TLS host whose certificate is made here with openssl. Every
 * route is asked through each node's built-in ingress (127.0.1.N:80/443) and through the local
 * load balancer address the controller writes into `status.loadBalancer` (127.0.2.N).
 */
import { expect, it } from 'vitest';
import type { Service } from '../../schemas';
import { applyDefaults } from '../../schemas';
import type { Ingress } from '../../schemas/networking';
import { selfSigned } from '../helpers/certs';
import { useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { ask as request } from './helpers/requests';
import { httpdDeployment } from './helpers/workloads';

// The same answer at / and under /api/, so each path shows which Service served it.
const app = (name: string) => httpdDeployment(name, { replicas: 2, reply: name, paths: ['api'] });

const svc = (name: string) =>
  applyDefaults({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  } as unknown as Service);

const backend = (name: string) => ({ service: { name, port: { number: 80 } } });

/** One request on a new connection, with the given Host (and SNI name for HTTPS). */
const ask = (address: string, port: number, host: string, path: string, ca?: string) =>
  request(address, port, { host, path, ...(ca !== undefined ? { ca } : {}) });

describeDocker('e2e: Ingress on real Docker', () => {
  const c = useCluster(2);
  const pair = selfSigned(['secure.test']);
  let entrypoints: { name: string; address: string }[] = [];

  it('routes two hosts and two paths to two Services through every node and the load balancer', async () => {
    for (const name of ['web', 'api']) {
      await c.store.create(app(name));
      await c.post('/api/v1/namespaces/default/services', svc(name));
    }
    await c.post('/api/v1/namespaces/default/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'secure-tls' },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(pair.cert).toString('base64'),
        'tls.key': Buffer.from(pair.key).toString('base64'),
      },
    });
    await c.post<Ingress>('/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop' },
      spec: {
        tls: [{ hosts: ['secure.test'], secretName: 'secure-tls' }],
        rules: [
          {
            host: 'shop.test',
            http: {
              paths: [
                { path: '/', pathType: 'Prefix', backend: backend('web') },
                { path: '/api', pathType: 'Prefix', backend: backend('api') },
              ],
            },
          },
          { host: 'blog.test', http: { paths: [{ path: '/', pathType: 'Exact', backend: backend('api') }] } },
          { host: 'secure.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('web') }] } },
        ],
      },
    });
    await c.waitFor(async () => (await c.readyPods('web-')).length === 2, 60_000, '2 ready web pods');
    await c.waitFor(async () => (await c.readyPods('api-')).length === 2, 60_000, '2 ready api pods');
    let lbIp = '';
    await c.waitFor(
      async () => {
        const ing = await c.store.get<Ingress>({ kind: 'Ingress', namespace: 'default', name: 'shop' });
        lbIp = ing?.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
        return lbIp.startsWith('127.0.2.');
      },
      30_000,
      'the Ingress status to name the load balancer',
    );
    const nodes = await Promise.all(
      c.names.map(async (name) => {
        const node = await c.store.get<{ status: { addresses: { type: string; address: string }[] } } & Ingress>({
          kind: 'Node',
          name,
        });
        return { name, address: node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address as string };
      }),
    );
    entrypoints = [...nodes, { name: 'load balancer', address: lbIp }];

    const cases: [string, string, number, string][] = [
      ['shop.test', '/', 200, 'web'],
      ['shop.test', '/api/', 200, 'api'],
      ['blog.test', '/', 200, 'api'],
      ['blog.test', '/api/', 404, ''],
      ['other.test', '/', 404, ''],
    ];
    for (const e of entrypoints) {
      // Each node's ingress gets the table and the endpoints in its next sync.
      await c.waitFor(
        // Both backends: each Service's endpoints reach the node on their own.
        async () =>
          (await ask(e.address, 80, 'shop.test', '/api/')).body === 'api' &&
          (await ask(e.address, 80, 'shop.test', '/')).body === 'web',
        30_000,
        `the ingress on ${e.name} (${e.address}) to route shop.test/api/ and shop.test/`,
      );
      for (const [host, path, status, body] of cases) {
        const got = await ask(e.address, 80, host, path);
        expect({ at: e.name, host, path, status: got.status }).toEqual({ at: e.name, host, path, status });
        if (body) expect(got.body).toBe(body);
      }
      console.log(`ingress via ${e.name} ${e.address}: ${cases.length} routes as expected`);
    }
  }, 180_000);

  it('serves the TLS host with its Secret certificate, chosen by SNI, through every node and the load balancer', async () => {
    for (const e of entrypoints) {
      await c.waitFor(
        async () => (await ask(e.address, 443, 'secure.test', '/', pair.cert)).body === 'web',
        30_000,
        `HTTPS for secure.test on ${e.name} (${e.address})`,
      );
      const unknown = await ask(e.address, 443, 'nobody.test', '/', pair.cert).catch((err: Error) => err);
      expect(unknown).toBeInstanceOf(Error);
    }
  }, 120_000);
});
