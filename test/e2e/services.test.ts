/**
 * End-to-end on real Docker: Services. A 2-node local cluster; 3 replicas of an HTTP server that
 * answers with its pod name, behind a LoadBalancer Service; traffic through the load balancer and
 * through each node's node port; request loops (bounded in count and time, loopback only) during a
 * rolling update, a scale 3 -> 6 -> 3 and the loss of a node; a pod that finds a Service through
 * the injected environment variables.
 */
import { expect, it } from 'vitest';
import { ROUTE_INDEX_REF, type RouteIndex } from '../../functions/service-routes';
import type { Deployment, Pod } from '../../schemas';
import { applyDefaults } from '../../schemas';
import type { Service } from '../../schemas/service';
import { appContainers, docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { getBody as get, requestLoop } from './helpers/requests';
import { httpdDeployment } from './helpers/workloads';

const FAILOVER_BOUND_MS = 20_000;

/** Pods answering with their names; a rollout never takes a ready one away first. */
const echo = (replicas: number, version = '1') => httpdDeployment('echo', { replicas, grace: 5, surge: true, version });

const echoService = applyDefaults({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'echo', namespace: 'default' },
  spec: { type: 'LoadBalancer', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 'http' }] },
} as unknown as Service);

const loop = (host: string, port: number) => requestLoop(() => get(host, port));

describeDocker('e2e: Services on real Docker', () => {
  const c = useCluster(2);
  let lbIp = '';
  let lbPort = 0;
  let nodePort = 0;

  const endpoints = () => c.endpointAddresses('echo');
  // The routes went out to every node's record (service-routes.ts): Endpoints written is not yet
  // routed, as in Kubernetes, where kube-proxy applies them on its next sync.
  const routesOut = async () => {
    const index = await c.store.get<RouteIndex>(ROUTE_INDEX_REF);
    return index !== undefined && index.spec.fannedOut === index.spec.seq;
  };
  const settled = (n: number) => async () =>
    (await c.readyPods('echo-')).length === n &&
    (await c.pods('echo-')).length === n &&
    (await endpoints()).length === n &&
    (await routesOut());

  it('spreads 300 requests through the load balancer over all 3 pods, 20-47% each', async () => {
    await c.store.create(echo(3));
    const created = await c.post<Service>('/api/v1/namespaces/default/services', echoService);
    nodePort = created.spec.ports?.[0]?.nodePort as number;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    await c.waitFor(settled(3), 60_000, '3 ready echo pods in the endpoints');
    await c.waitFor(
      async () => {
        const s = await c.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'echo' });
        const ingress = s?.status?.loadBalancer?.ingress?.[0] as
          | { ip?: string; ports?: { port: number }[] }
          | undefined;
        lbIp = ingress?.ip ?? '';
        lbPort = ingress?.ports?.[0]?.port ?? 0;
        return lbIp !== '' && lbPort > 0;
      },
      20_000,
      'load balancer ingress',
    );
    const pods = new Set((await c.readyPods('echo-')).map((p) => p.metadata.name));
    expect(new Set((await c.readyPods('echo-')).map((p) => p.spec.nodeName)).size).toBe(2);

    // The agents apply the routes an answer after their records moved: the first request waits for it.
    await c.waitFor(
      () =>
        get(lbIp, lbPort).then(
          () => true,
          () => false,
        ),
      20_000,
      'the load balancer answering',
    );
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const name = await get(lbIp, lbPort);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }

    console.log(`load balancer ${lbIp}:${lbPort}: ${JSON.stringify(Object.fromEntries(counts))}`);
    expect(new Set(counts.keys())).toEqual(pods);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(60);
      expect(n).toBeLessThanOrEqual(141);
    }
  }, 120_000);

  it('reaches pods on the other node through each node port', async () => {
    const pods = await c.readyPods('echo-');
    for (const node of c.names) {
      const address = (
        await c.store.get<{ status: { addresses: { type: string; address: string }[] } } & Pod>({
          kind: 'Node',
          name: node,
        })
      )?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address as string;
      const elsewhere = new Set(pods.filter((p) => p.spec.nodeName !== node).map((p) => p.metadata.name));
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add(await get(address, nodePort));
      console.log(`node port ${address}:${nodePort} (${node}) reached ${[...seen].join(', ')}`);
      expect(seen.size).toBe(3);
      expect([...elsewhere].every((p) => seen.has(p))).toBe(true);
    }
  }, 60_000);

  it("a pod reaches another Deployment's Service through the injected environment variables", async () => {
    await c.store.create(
      applyDefaults({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: 'default' },
        spec: {
          containers: [{ name: 'sh', image: 'ferry.local/busybox:1', command: ['sh', '-c', 'exec sleep 3600'] }],
        },
      } as Pod),
    );
    await c.waitFor(async () => (await c.readyPods('client')).length === 1, 30_000, 'client pod ready');
    const [id] = appContainers((await c.readyPods('client'))[0] as Pod);
    const env = docker('exec', id as string, 'sh', '-c', 'echo "$ECHO_SERVICE_HOST:$ECHO_SERVICE_PORT"');
    const answer = docker(
      'exec',
      id as string,
      'sh',
      '-c',
      'wget -qO- "http://$ECHO_SERVICE_HOST:$ECHO_SERVICE_PORT/"',
    );

    console.log(`client pod: ECHO_SERVICE_HOST:PORT=${env} answered by ${answer}`);
    // The cluster IP and the Service port, as in Kubernetes (test/e2e/cluster-ip.test.ts covers the path).
    expect(env).toMatch(/^10\.96\.\d+\.\d+:80$/);
    expect((await c.readyPods('echo-')).map((p) => p.metadata.name)).toContain(answer);
    await c.store.delete({ kind: 'Pod', namespace: 'default', name: 'client' });
  }, 60_000);

  it('loses no request during a rolling update', async () => {
    const l = loop(lbIp, lbPort);
    const d = await c.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'echo' });
    await c.store.update({ ...d, spec: { ...d?.spec, template: echo(3, '2').spec.template } } as Deployment);
    await c.waitFor(async () => (await settled(3)()) && (await newPodsOnly()), 90_000, 'rollout complete');
    await new Promise((r) => setTimeout(r, 1000));
    const r = await l.stop();

    console.log(
      `rolling update: ${r.ok} ok, ${r.failed.length} failed ${JSON.stringify(r.failed.slice(0, 5))}, reached ${r.pods.size} pods`,
    );
    expect(r.ok).toBeGreaterThan(50);
    expect(r.pods.size).toBeGreaterThanOrEqual(6);
    expect(r.failed).toEqual([]);
  }, 120_000);

  it('loses no request while scaling from 3 to 6 and back to 3', async () => {
    const l = loop(lbIp, lbPort);
    await scale(6);
    await c.waitFor(settled(6), 60_000, '6 ready pods');
    await new Promise((r) => setTimeout(r, 1000));
    await scale(3);
    await c.waitFor(settled(3), 60_000, 'back to 3 pods');
    await new Promise((r) => setTimeout(r, 1000));
    const r = await l.stop();

    console.log(`scale 3->6->3: ${r.ok} ok, ${r.failed.length} failed, reached ${r.pods.size} pods`);
    expect(r.failed).toEqual([]);
    expect(r.pods.size).toBeGreaterThanOrEqual(6);
  }, 150_000);

  it('stops failing within the failover bound when a node is lost', async () => {
    const node = 'e2e-2';
    const l = loop(lbIp, lbPort);
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    process.kill(c.provider.pidOf(node) as number, 'SIGKILL');
    await c.waitFor(
      async () => {
        const ready = await c.readyPods('echo-');
        return ready.length === 3 && ready.every((p) => p.spec.nodeName !== node);
      },
      40_000,
      'echo pods running elsewhere',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const r = await l.stop();
    const lastFailure = r.failed.at(-1)?.at;
    const failingFor = lastFailure ? lastFailure - killedAt : 0;

    console.log(
      `node loss: ${r.ok} ok, ${r.failed.length} failed; last failure ${(failingFor / 1000).toFixed(1)} s after SIGKILL`,
    );
    expect(r.ok).toBeGreaterThan(50);
    expect(failingFor).toBeLessThan(FAILOVER_BOUND_MS);
    c.provider.restartAgent(node);
    await c.waitFor(async () => (await c.readyNodes()).includes(node), 30_000, 'node back');
  }, 120_000);

  async function scale(replicas: number): Promise<void> {
    await c.patch('/apis/apps/v1/namespaces/default/deployments/echo/scale', { spec: { replicas } });
  }

  /** The rollout to VERSION=2 is over: every pod runs the new template and the Deployment says so. */
  async function newPodsOnly(): Promise<boolean> {
    const d = await c.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'echo' });
    const s = d?.status;
    const current = (s?.observedGeneration ?? 0) >= (d?.metadata.generation ?? 1);
    const pods = await c.pods('echo-');
    const allNew = pods.every((p) => p.spec.containers[0]?.env?.some((e) => e.name === 'VERSION' && e.value === '2'));
    return current && allNew && s?.updatedReplicas === 3 && s.replicas === 3 && s.availableReplicas === 3;
  }
});
