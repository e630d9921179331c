/**
 * `/metrics` as a scraper and an attacker see it: Kubernetes' metric names and labels, counts
 * that follow what was done, label sets that stay bounded whatever paths and names clients send,
 * no token in the text, and who may read it (anonymous 401, deployer 403, reader 200, a
 * ServiceAccount only with RBAC `get` on the non-resource URL `/metrics` from a ClusterRoleBinding).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler } from '../../../functions/api';
import type { ApiHandler } from '../../../functions/api/types';
import { createControllerManager } from '../../../functions/controllers/manager';
import { ClusterGauges } from '../../../functions/metrics/cluster-gauges';
import { type ControlPlaneMetrics, createControlPlaneMetrics } from '../../../functions/metrics/registry';
import { instrumentStore } from '../../../functions/metrics/store';
import { createLambdaHandler } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import { makeNode } from '../../helpers/objects';
import { namespace, node, pod, startApi, T0, type TestApi } from '../api/harness';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** The sample lines of one metric family, without HELP/TYPE. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('/metrics', () => {
  let api: TestApi;
  let metrics: ControlPlaneMetrics;
  let handler: ApiHandler;
  const get = (path: string, token: string | null, method = 'GET', query = '') =>
    handler({
      method,
      path,
      query: new URLSearchParams(query),
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });

  beforeEach(async () => {
    const store = new MemoryStore(() => T0);
    metrics = createControlPlaneMetrics({ counters: true });
    api = await startApi(instrumentStore(store, metrics.observeStore));
    metrics.addGauges(new ClusterGauges(api.store, { mode: 'watch', clock: () => api.now.ms }));
    handler = createApiHandler({ ...api.deps, metrics });
  });

  it('is refused without a token (401) and to a deployer (403), served to a reader and an admin (200)', async () => {
    // prepare
    const deployer = await api.token({ role: 'deployer', namespaces: ['default'] });
    const reader = await api.token({ role: 'reader' });
    const nodeToken = await api.token({ role: 'node', nodeName: 'n1' });

    // act
    const codes = [
      (await get('/metrics', null)).status,
      (await get('/metrics', 'ferry_nobody_notasecret')).status,
      (await get('/metrics', deployer)).status,
      (await get('/metrics', nodeToken)).status,
      (await get('/metrics', reader)).status,
      (await get('/metrics', api.admin)).status,
    ];
    const served = await get('/metrics', reader);

    // assess
    expect(codes).toEqual([401, 401, 403, 403, 200, 200]);
    expect(served.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect((await get('/metrics', reader, 'POST')).status).toBe(405);
  });

  it("gives a ServiceAccount /metrics only through a ClusterRoleBinding to get on the non-resource URL '/metrics'", async () => {
    // prepare: a pod on n1 running as team/prometheus, and its token
    await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team') });
    await api.send('POST', '/api/v1/namespaces/team/serviceaccounts', {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus' } },
    });
    const body = pod('prom', { namespace: 'team', nodeName: 'n1' });
    body.spec = { ...body.spec, serviceAccountName: 'prometheus' } as typeof body.spec;
    const created = await api.send('POST', '/api/v1/namespaces/team/pods', { body });
    const { uid } = created.json.metadata as { uid: string };
    const minted = await api.send('POST', '/agent/v1/token', {
      token: await api.token({ role: 'node', nodeName: 'n1' }),
      body: { pod: { namespace: 'team', name: 'prom', uid } },
    });
    const token = minted.json.token as string;
    const role = (name: string, rules: unknown[]) =>
      api.send('POST', `${RBAC}/clusterroles`, {
        body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules },
      });
    const bind = (name: string, roleName: string, ns?: string) =>
      api.send('POST', ns ? `${RBAC}/namespaces/${ns}/rolebindings` : `${RBAC}/clusterrolebindings`, {
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: ns ? 'RoleBinding' : 'ClusterRoleBinding',
          metadata: { name, ...(ns ? { namespace: ns } : {}) },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
          subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'team' }],
        },
      });
    await role('metrics-reader', [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    await role('other-urls', [{ nonResourceURLs: ['/healthz', '/debug/*'], verbs: ['get'] }]);

    // act
    const unbound = await get('/metrics', token);
    await bind('other', 'other-urls');
    await bind('in-team', 'metrics-reader', 'team');
    api.now.ms += 2_000; // past the token cache
    const wrongRules = await get('/metrics', token);
    await bind('prometheus', 'metrics-reader');
    api.now.ms += 2_000;
    const granted = await get('/metrics', token);

    // assess: a RoleBinding never grants a non-resource URL; the ClusterRoleBinding does
    expect(minted.status).toBe(200);
    expect(unbound.status).toBe(403);
    expect(JSON.parse(unbound.body).message).toContain('cannot get path "/metrics"');
    expect(wrongRules.status).toBe(403);
    expect(granted.status).toBe(200);
  });

  it("counts requests under apiserver's names and labels: Kubernetes verbs, resource, scope, code", async () => {
    // prepare
    await get('/api/v1/namespaces/default/pods', api.admin);
    await get('/api/v1/namespaces/default/pods', api.admin);
    await get('/api/v1/namespaces/default/pods/missing', api.admin);
    await get('/apis/apps/v1/deployments', api.admin);
    await get('/healthz', null);

    // act
    const text = (await get('/metrics', api.admin)).body;

    // assess
    expect(samples(text, 'apiserver_request_total')).toEqual(
      expect.arrayContaining([
        'apiserver_request_total{verb="list",group="",version="v1",resource="pods",subresource="",scope="namespace",code="200"} 2',
        'apiserver_request_total{verb="get",group="",version="v1",resource="pods",subresource="",scope="resource",code="404"} 1',
        'apiserver_request_total{verb="list",group="apps",version="v1",resource="deployments",subresource="",scope="cluster",code="200"} 1',
        'apiserver_request_total{verb="GET",group="",version="",resource="",subresource="/healthz",scope="",code="200"} 1',
      ]),
    );
    expect(text).toContain(
      'apiserver_request_duration_seconds_count{verb="list",group="",version="v1",resource="pods",subresource="",scope="namespace"} 2',
    );
    expect(text).toMatch(/ferry_store_operations_total\{operation="list",kind="Pod",result="ok"\} \d+/);
    expect(text).toContain('# TYPE ferry_store_operation_duration_seconds histogram');
    expect(text).toContain('scheduler_schedule_attempts_total{result="scheduled"} 0');
  });

  it('keeps label sets bounded: unknown paths fold into one value, object names never become labels', async () => {
    // prepare: hostile and endless paths, and many pods with distinct names
    for (let i = 0; i < 200; i++) {
      await get(`/evil/${i}/<script>alert(1)</script>`, api.admin);
      await get(`/api/v1/namespaces/default/pods/pod-${i}`, api.admin);
      await get(`/api/v1/namespaces/ns-${i}/configmaps`, api.admin);
    }
    await get('/metrics', null); // a failed scrape is a request too

    // act
    const text = (await get('/metrics', api.admin)).body;
    const series = samples(text, 'apiserver_request_total');

    // assess
    expect(series.length).toBeLessThan(10);
    expect(series).toContain(
      'apiserver_request_total{verb="GET",group="",version="",resource="",subresource="other",scope="",code="404"} 200',
    );
    expect(text).not.toContain('pod-1');
    expect(text).not.toContain('ns-1');
    expect(text).not.toContain('<script>');
    expect(text).not.toContain(api.admin);
  });

  it('shows nodes by Ready condition and pods by phase, following creates and deletes', async () => {
    // prepare
    await api.store.create(makeNode('ready-1'));
    await api.store.create(makeNode('ready-2'));
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('a') });
    const before = (await get('/metrics', api.admin)).body;

    // act
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('b') });
    await api.send('DELETE', '/api/v1/namespaces/default/pods/a');
    await api.send('POST', '/api/v1/nodes', { body: node('new') });
    const after = (await get('/metrics', api.admin)).body;

    // assess
    expect(before).toContain('ferry_cluster_nodes{ready="True"} 2');
    expect(before).toContain('ferry_cluster_pods{phase="Pending"} 1');
    expect(after).toContain('ferry_cluster_pods{phase="Pending"} 1');
    expect(after).toContain('ferry_cluster_nodes{ready="True"} 2');
    expect(after).toContain('ferry_cluster_nodes{ready="Unknown"} 1');
    expect(after).toContain('ferry_cluster_pods{phase="Running"} 0');
  });

  it('counts agent syncs by mode and by whether the answer carried changes', async () => {
    // prepare
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const reg = await handler({
      method: 'POST',
      path: '/agent/v1/register',
      query: new URLSearchParams(),
      headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
      body: new TextEncoder().encode(
        JSON.stringify({ nodeName: 'n1', status: { capacity: { cpu: '2', memory: '4Gi', pods: '110' } } }),
      ),
    });
    const nodeToken = JSON.parse(reg.body).token as string;
    const sync = async (body: unknown) =>
      JSON.parse(
        (
          await handler({
            method: 'POST',
            path: '/agent/v1/sync',
            query: new URLSearchParams(),
            headers: { authorization: `Bearer ${nodeToken}`, 'content-type': 'application/json' },
            body: new TextEncoder().encode(JSON.stringify(body)),
          })
        ).body,
      );

    // act: the first sync gets everything; a second with those versions gets nothing new
    const first = await sync({});
    await sync({ versions: first.versions, leaseRenewedAt: first.leaseRenewedAt });
    const text = (await get('/metrics', api.admin)).body;

    // assess
    expect(text).toContain('ferry_agent_syncs_total{mode="quick",changes="true"} 1');
    expect(text).toContain('ferry_agent_syncs_total{mode="quick",changes="false"} 1');
    expect(text).toContain(
      'apiserver_request_total{verb="POST",group="",version="",resource="",subresource="/agent/v1/sync",scope="",code="200"} 2',
    );
    // Long-running by design: their own histogram, not apiserver's
    expect(text).toContain('ferry_agent_sync_duration_seconds_count{mode="quick"} 2');
    expect(text).not.toContain(
      'apiserver_request_duration_seconds_count{verb="POST",group="",version="",resource="",subresource="/agent/v1/sync"',
    );
  });

  it('times each controller and counts scheduling attempts by result', async () => {
    // prepare: one Ready node with room for one pod, two pending pods
    await api.store.create(makeNode('n1', { cpu: '2' }));
    const small = (name: string) => {
      const p = pod(name);
      p.spec.containers[0] = { ...p.spec.containers[0], resources: { requests: { cpu: '1500m' } } } as never;
      return p;
    };
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: small('fits') });
    await api.send('POST', '/api/v1/namespaces/default/pods', { body: small('waits') });

    // act
    await createControllerManager({ ...api.deps, metrics }).runOnce();
    const text = (await get('/metrics', api.admin)).body;

    // assess
    expect(text).toContain('scheduler_schedule_attempts_total{result="scheduled"} 1');
    expect(text).toMatch(/scheduler_schedule_attempts_total\{result="unschedulable"\} [1-9]/);
    expect(text).toMatch(/ferry_controller_run_duration_seconds_count\{controller="scheduler"\} [1-9]/);
    expect(text).toMatch(/ferry_controller_run_duration_seconds_count\{controller="deployment"\} [1-9]/);
  });

  it('serves only the cluster gauges through the Lambda handler, where one instance counts nothing worth showing', async () => {
    // prepare
    const gaugesOnly = createControlPlaneMetrics({ counters: false });
    gaugesOnly.addGauges(new ClusterGauges(api.store, { mode: 'list', clock: () => api.now.ms }));
    const lambda = createLambdaHandler({ ...api.deps, metrics: gaugesOnly });
    await api.store.create(makeNode('n1'));
    const event = (path: string, token?: string) =>
      ({
        version: '2.0',
        routeKey: '$default',
        rawPath: path,
        rawQueryString: '',
        headers: token ? { authorization: `Bearer ${token}` } : {},
        requestContext: { http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 't' } },
        isBase64Encoded: false,
      }) as unknown as APIGatewayProxyEventV2;
    await lambda(event('/api/v1/pods', api.admin), {} as never);

    // act
    const served = await lambda(event('/metrics', api.admin), {} as never);
    const anonymous = await lambda(event('/metrics'), {} as never);
    const page = await lambda(event('/ui/'), {} as never);

    // assess
    expect(served.statusCode).toBe(200);
    expect(served.body).toContain('ferry_cluster_nodes{ready="True"} 1');
    expect(samples(served.body ?? '', 'apiserver_request_total')).toEqual([]);
    expect(anonymous.statusCode).toBe(401);
    expect(page.statusCode).toBe(404); // the page is served by ferry server only
  });
});
