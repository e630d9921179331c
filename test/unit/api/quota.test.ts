import { beforeEach, describe, expect, it } from 'vitest';
import { admitControllerPod, checkQuota, refreshQuotaStatus } from '../../../functions/admission';
import { configMap, deployment, pod, secret, service, startApi, type TestApi } from './harness';

const NS = '/api/v1/namespaces/team';
const APPLY = '/apis/ferry.dev/v1/apply';
const MERGE = 'application/merge-patch+json';

function quota(hard: Record<string, string | number>, name = 'q') {
  return { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name, namespace: 'team' }, spec: { hard } };
}

function sized(name: string, requests: Record<string, string>, limits?: Record<string, string>) {
  const p = pod(name, { namespace: 'team' }) as ReturnType<typeof pod> & {
    spec: { containers: Record<string, unknown>[] };
  };
  (p.spec.containers[0] as Record<string, unknown>).resources = { requests, ...(limits ? { limits } : {}) };
  return p;
}

function limitRange(limits: Record<string, unknown>[]) {
  return { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'lr', namespace: 'team' }, spec: { limits } };
}

describe('ResourceQuota and LimitRange', () => {
  let api: TestApi;
  let deployer: string;

  const post = (plural: string, body: unknown, token = deployer) =>
    api.send('POST', `${NS}/${plural}`, { token, body });

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
    });
    deployer = await api.token({ role: 'deployer', namespaces: ['team'] });
  });

  describe('ResourceQuota', () => {
    it("refuses the pod past a quota's pods with Kubernetes' 403 message, and stores nothing", async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 2 }), api.admin);
      await post('pods', pod('a', { namespace: 'team' }));
      await post('pods', pod('b', { namespace: 'team' }));
      const before = (await api.store.list('Pod', { namespace: 'team' })).items.length;

      // act
      const res = await post('pods', pod('c', { namespace: 'team' }));

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toBe('exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2');
      expect((await api.store.list('Pod', { namespace: 'team' })).items.length).toBe(before);
    });

    it('bounds requests and limits of cpu and memory, summed over containers', async () => {
      // prepare
      await post(
        'resourcequotas',
        quota({ 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2', 'limits.memory': '2Gi' }),
        api.admin,
      );
      await post('pods', sized('a', { cpu: '600m', memory: '512Mi' }, { cpu: '1', memory: '1Gi' }));

      // act
      const cpu = await post('pods', sized('b', { cpu: '500m', memory: '100Mi' }, { cpu: '500m', memory: '100Mi' }));
      const fits = await post('pods', sized('c', { cpu: '400m', memory: '512Mi' }, { cpu: '1', memory: '1Gi' }));

      // assess
      expect(cpu.status).toBe(403);
      expect(cpu.json.message).toBe(
        'exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1',
      );
      expect(fits.status).toBe(201);
    });

    it('counts cpu and memory as requests, as Kubernetes does', async () => {
      // prepare
      await post('resourcequotas', quota({ cpu: '1', memory: '1Gi' }), api.admin);

      // act
      const res = await post('pods', sized('a', { cpu: '2', memory: '10Mi' }));

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toContain('requested: cpu=2, used: cpu=0, limited: cpu=1');
    });

    it('counts services, node ports, load balancers, configmaps, secrets and count/<resource>', async () => {
      // prepare
      await post(
        'resourcequotas',
        quota({
          services: 2,
          'services.nodeports': 1,
          'services.loadbalancers': 0,
          configmaps: 1,
          secrets: 1,
          'count/deployments.apps': 1,
        }),
        api.admin,
      );

      // act
      const ports = await post(
        'services',
        service(
          'np',
          [
            { name: 'a', port: 80, targetPort: 80 },
            { name: 'b', port: 81, targetPort: 81 },
          ],
          { type: 'NodePort' },
          'team',
        ),
      );
      const lb = await post('services', service('lb', undefined, { type: 'LoadBalancer' }, 'team'));
      const plain = await post('services', service('plain', undefined, {}, 'team'));
      const cm1 = await post('configmaps', configMap('one', {}, 'team'));
      const cm2 = await post('configmaps', configMap('two', {}, 'team'));
      const s1 = await post('secrets', secret('one', 'team'));
      const s2 = await post('secrets', secret('two', 'team'));
      const d1 = await api.send('POST', '/apis/apps/v1/namespaces/team/deployments', {
        token: deployer,
        body: deployment('a', 1, 'team'),
      });
      const d2 = await api.send('POST', '/apis/apps/v1/namespaces/team/deployments', {
        token: deployer,
        body: deployment('b', 1, 'team'),
      });

      // assess
      expect(ports.json.message).toContain('services.nodeports');
      expect(lb.json.message).toContain('services.loadbalancers');
      expect([ports.status, lb.status, plain.status]).toEqual([403, 403, 201]);
      expect([cm1.status, cm2.status, s1.status, s2.status]).toEqual([201, 403, 201, 403]);
      expect([d1.status, d2.status]).toEqual([201, 403]);
      expect(d2.json.message).toContain('count/deployments.apps=1');
    });

    it('checks updates and patches by the usage they add', async () => {
      // prepare
      await post('resourcequotas', quota({ 'services.nodeports': 1 }), api.admin);
      await post(
        'services',
        service(
          'web',
          [
            { name: 'a', port: 80, targetPort: 80 },
            { name: 'b', port: 81, targetPort: 81 },
          ],
          {},
          'team',
        ),
      );

      // act
      const patch = await api.send('PATCH', `${NS}/services/web`, {
        token: deployer,
        contentType: MERGE,
        body: { spec: { type: 'NodePort' } },
      });

      // assess
      expect(patch.status).toBe(403);
      expect(patch.json.message).toContain(
        'requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1',
      );
      expect((await api.store.get({ kind: 'Service', namespace: 'team', name: 'web' }))?.spec).not.toHaveProperty(
        'type',
        'NodePort',
      );
    });

    it('refuses an apply bundle that would exceed a quota, writing nothing of it', async () => {
      // prepare
      await post('resourcequotas', quota({ configmaps: 2 }), api.admin);
      const before = await api.snapshot();

      // act
      const res = await api.send('POST', APPLY, {
        token: deployer,
        body: [configMap('a', {}, 'team'), configMap('b', {}, 'team'), configMap('c', {}, 'team')],
      });

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toBe(
        'exceeded quota: q, requested: configmaps=3, used: configmaps=0, limited: configmaps=2',
      );
      expect(await api.snapshot()).toBe(before);
    });

    it('lets only as many of many racing creates pass as the quota allows', async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 3 }), api.admin);

      // act
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => post('pods', pod(`p${i}`, { namespace: 'team' }))),
      );

      // assess
      expect(results.filter((r) => r.status === 201)).toHaveLength(3);
      expect(results.filter((r) => r.status === 403)).toHaveLength(7);
      expect((await api.store.list('Pod', { namespace: 'team' })).items).toHaveLength(3);
    });

    it('frees usage when an object is deleted, and keeps status.used', async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 1, 'requests.cpu': '2' }), api.admin);
      await post('pods', sized('a', { cpu: '500m' }));
      const used = (await api.send('GET', `${NS}/resourcequotas/q`)).json.status;
      await api.send('DELETE', `${NS}/pods/a`, { token: deployer });

      // act
      const again = await post('pods', pod('b', { namespace: 'team' }));

      // assess
      expect(used).toEqual({ hard: { pods: 1, 'requests.cpu': '2' }, used: { pods: '1', 'requests.cpu': '500m' } });
      expect(again.status).toBe(201);
    });

    it('recounts status.used from the store, as the quota controller resync does', async () => {
      // prepare
      await post('resourcequotas', quota({ configmaps: 5 }), api.admin);
      await api.store.create(configMap('direct', {}, 'team'));

      // act
      await refreshQuotaStatus(api.deps);

      // assess
      const q = await api.store.get({ kind: 'ResourceQuota', namespace: 'team', name: 'q' });
      expect(q?.status).toEqual({ hard: { configmaps: 5 }, used: { configmaps: '1' } });
    });

    it("checks the controllers' pod creates through the same function", async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 0 }), api.admin);
      const p = pod('from-rs', { namespace: 'team' });

      // act
      const refused = admitControllerPod(api.deps, p as never);

      // assess
      await expect(refused).rejects.toThrow('exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0');
    });

    it('does not count finished pods', async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 1 }), api.admin);
      const done = pod('done', { namespace: 'team' }) as Record<string, unknown>;
      done.status = { phase: 'Succeeded' };
      await api.store.create(done as never);

      // act
      const res = await post('pods', pod('next', { namespace: 'team' }));

      // assess
      expect(res.status).toBe(201);
    });

    it('refuses a quota naming a resource ferry does not count, or scopes it does not support, with 422', async () => {
      // act
      const unknown = await post('resourcequotas', quota({ 'requests.nvidia.com/gpu': 1 }), api.admin);
      const scoped = await post(
        'resourcequotas',
        { ...quota({ pods: 1 }), spec: { hard: { pods: 1 }, scopes: ['BestEffort'] } },
        api.admin,
      );
      const negative = await post('resourcequotas', quota({ pods: '-1' }), api.admin);

      // assess
      expect(unknown.status).toBe(422);
      expect(unknown.json.details?.causes?.[0]?.field).toBe('spec.hard[requests.nvidia.com/gpu]');
      expect(scoped.status).toBe(422);
      expect(negative.status).toBe(422);
    });

    it('checks a dry run without reserving anything', async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 1 }), api.admin);

      // act
      const dry = await api.send('POST', `${NS}/pods`, {
        token: deployer,
        body: pod('a', { namespace: 'team' }),
        query: { dryRun: 'All' },
      });
      const real = await post('pods', pod('b', { namespace: 'team' }));

      // assess
      expect(dry.status).toBe(201);
      expect(real.status).toBe(201);
      await expect(checkQuota(api.deps, pod('c', { namespace: 'team' }) as never, { dryRun: true })).rejects.toThrow(
        /exceeded quota/,
      );
    });

    it('prints quotas as kubectl does', async () => {
      // prepare
      await post('resourcequotas', quota({ pods: 4, 'limits.cpu': '2' }), api.admin);
      await post('pods', pod('a', { namespace: 'team' }));

      // act
      const res = await api.send('GET', `${NS}/resourcequotas`, {
        headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      });

      // assess
      const rows = (res.json as { rows?: { cells: string[] }[] }).rows ?? [];
      expect(rows[0]?.cells.slice(2)).toEqual(['pods: 1/4', 'limits.cpu: 0/2']);
    });
  });

  describe('LimitRange', () => {
    it('gives containers the default requests and limits', async () => {
      // prepare
      await post(
        'limitranges',
        limitRange([{ type: 'Container', default: { cpu: '500m', memory: '256Mi' }, defaultRequest: { cpu: '100m' } }]),
        api.admin,
      );

      // act
      const res = await post('pods', pod('a', { namespace: 'team' }));

      // assess
      expect(res.status).toBe(201);
      const spec = res.json.spec as { containers: { resources: unknown }[] };
      expect(spec.containers[0]?.resources).toEqual({
        limits: { cpu: '500m', memory: '256Mi' },
        requests: { cpu: '100m', memory: '256Mi' },
      });
    });

    it("refuses a container over max with Kubernetes' message", async () => {
      // prepare
      await post('limitranges', limitRange([{ type: 'Container', max: { cpu: '1' } }]), api.admin);

      // act
      const res = await post('pods', sized('big', { cpu: '500m' }, { cpu: '2' }));

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toBe('pods "big" is forbidden: [maximum cpu usage per Container is 1, but limit is 2]');
    });

    it('refuses below min, over a pod max, and over maxLimitRequestRatio', async () => {
      // prepare
      await post(
        'limitranges',
        limitRange([
          { type: 'Container', min: { memory: '64Mi' }, maxLimitRequestRatio: { cpu: '2' } },
          { type: 'Pod', max: { memory: '1Gi' } },
        ]),
        api.admin,
      );

      // act
      const small = await post('pods', sized('small', { memory: '1Mi' }, { memory: '128Mi' }));
      const ratio = await post('pods', sized('ratio', { cpu: '100m', memory: '64Mi' }, { cpu: '1', memory: '64Mi' }));
      const pod2 = sized('two', { memory: '600Mi' }, { memory: '600Mi' }) as {
        spec: { containers: Record<string, unknown>[] };
      };
      pod2.spec.containers.push({
        name: 'b',
        image: 'ferry.local/busybox:1',
        resources: { requests: { memory: '600Mi' }, limits: { memory: '600Mi' } },
      });
      const whole = await post('pods', pod2);

      // assess
      expect(small.json.message).toContain('minimum memory usage per Container is 64Mi, but request is 1Mi');
      expect(ratio.json.message).toContain(
        'cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000',
      );
      expect(whole.json.message).toContain('maximum memory usage per Pod is 1Gi, but limit is 1200Mi');
      expect([small.status, ratio.status, whole.status]).toEqual([403, 403, 403]);
    });

    it('counts the defaulted requests against the quota (LimitRange runs first)', async () => {
      // prepare
      await post('limitranges', limitRange([{ type: 'Container', defaultRequest: { cpu: '600m' } }]), api.admin);
      await post('resourcequotas', quota({ 'requests.cpu': '1' }), api.admin);
      await post('pods', pod('a', { namespace: 'team' }));

      // act
      const res = await post('pods', pod('b', { namespace: 'team' }));

      // assess
      expect(res.status).toBe(403);
      expect(res.json.message).toContain('requested: requests.cpu=600m, used: requests.cpu=600m');
    });

    it('refuses a LimitRange ferry cannot honour with 422 naming the field', async () => {
      // act
      const storage = await post(
        'limitranges',
        limitRange([{ type: 'Container', max: { 'ephemeral-storage': '1Gi' } }]),
        api.admin,
      );
      const inverted = await post(
        'limitranges',
        limitRange([{ type: 'Container', min: { cpu: '2' }, max: { cpu: '1' } }]),
        api.admin,
      );
      const pvc = await post(
        'limitranges',
        limitRange([{ type: 'PersistentVolumeClaim', max: { storage: '1Gi' } }]),
        api.admin,
      );

      // assess
      expect(storage.status).toBe(422);
      expect(storage.json.details?.causes?.[0]?.field).toBe('spec.limits[0].max[ephemeral-storage]');
      expect(inverted.status).toBe(422);
      expect(pvc.status).toBe(422);
    });
  });
});
