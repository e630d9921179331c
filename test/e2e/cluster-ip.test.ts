/**
 * End-to-end on real Docker: cluster IPs. A 2-node local cluster (two agents on this machine, each
 * with its own pod bridge and nat chain); an HTTP Deployment spread over both nodes behind a
 * ClusterIP Service on port 80 whose target port is the container port named `http` (8080); a
 * client pod on each node. Each client reaches the Service at clusterIP:80 and gets answers from
 * pods on both nodes; its `WEB_SERVICE_HOST/PORT` are the cluster IP and 80; a request loop inside
 * a client (bounded in count and time) loses nothing through a rolling update; a process on the
 * node reaches the cluster IP too; a UDP echo Service answers at its cluster IP from both nodes;
 * the rules go with the Service and with the agents.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, expect, it } from 'vitest';
import type { Deployment, Pod } from '../../schemas';
import { applyDefaults } from '../../schemas';
import type { Service } from '../../schemas/service';
import { docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { containerLoop } from './helpers/requests';
import { httpdDeployment } from './helpers/workloads';

const SVCS = '/api/v1/namespaces/default/services';

/** Two pods answering with their names; a rollout never takes a ready one away first. */
const web = (version: string) => httpdDeployment('web', { replicas: 2, grace: 5, surge: true, version });

/** A UDP server that answers each datagram with `echo:<datagram>`. */
const UDP_ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('echo:'+m,r.port,r.address));s.bind(5353);`;
/** One datagram to argv[1]:argv[2]; prints the answer (exit 1 after 3 s without one). */
const UDP_ASK = `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));process.exit(0)});s.send(process.argv[3],Number(process.argv[2]),process.argv[1]);setTimeout(()=>process.exit(1),3000);`;

function udpEcho(): Deployment {
  return applyDefaults({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'udp', namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'udp' } },
      template: {
        metadata: { labels: { app: 'udp' } },
        spec: {
          containers: [
            {
              name: 'echo',
              image: 'ferry.local/node:1',
              command: ['node', '-e', UDP_ECHO],
              ports: [{ name: 'echo', containerPort: 5353, protocol: 'UDP' }],
            },
          ],
        },
      },
    },
  } as unknown as Deployment);
}

function client(name: string, node: string): Pod {
  return applyDefaults({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      // busybox for wget and the shell loop; node for UDP (busybox's nc has no UDP).
      containers: [
        { name: 'sh', image: 'ferry.local/busybox:1', command: ['sh', '-c', 'exec sleep 3600'] },
        { name: 'node', image: 'ferry.local/node:1', command: ['sh', '-c', 'exec sleep 3600'] },
      ],
    },
  } as unknown as Pod);
}

// busybox-static's wget crashes on -T (its timeout option): `timeout 5 wget` bounds each request instead.

/** The FERRY-SVC/FERRY-XN chains of nat and FERRY-FW/FERRY-XB chains of filter on this machine (the agents of every cluster on it). */
function iptablesChains(): string[] {
  return [...iptables('nat', '-S').split('\n'), ...iptables('filter', '-S').split('\n')]
    .filter((l) => ['-N FERRY-SVC-', '-N FERRY-FW-', '-N FERRY-XB-', '-N FERRY-XN-'].some((p) => l.startsWith(p)))
    .map((l) => l.slice(3));
}
const iptables = (table: 'nat' | 'filter', ...args: string[]) =>
  execFileSync('iptables', ['-w', '5', '-t', table, ...args], { encoding: 'utf8' });

describeDocker('e2e: cluster IPs on real Docker', () => {
  let chainsBefore: string[] = [];
  const c = useCluster(2, {
    before: () => {
      chainsBefore = iptablesChains();
    },
  });
  let clusterIP = '';
  let udpIP = '';
  /** node -> container id, per container of the client pod on that node. */
  const clients = new Map<string, string>();
  const nodeClients = new Map<string, string>();

  const endpointCount = async (name: string) => (await c.endpointAddresses(name)).length;
  const exec = (node: string, ...cmd: string[]) => docker('exec', clients.get(node) as string, ...cmd);

  beforeAll(async () => {
    await c.store.create(web('1'));
    await c.store.create(udpEcho());
    const svc = await c.post<Service>(SVCS, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
    });
    clusterIP = svc.spec.clusterIP as string;
    const udp = await c.post<Service>(SVCS, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'udp' },
      spec: { selector: { app: 'udp' }, ports: [{ port: 53, targetPort: 'echo', protocol: 'UDP' }] },
    });
    udpIP = udp.spec.clusterIP as string;
    await c.waitFor(
      async () => (await c.readyPods('web-')).length === 2 && (await endpointCount('web')) === 2,
      60_000,
      '2 ready web pods in the endpoints',
    );
    await c.waitFor(async () => (await endpointCount('udp')) === 1, 60_000, 'the UDP echo pod in the endpoints');
    // Made after the Services, as a pod that finds them through its environment must be.
    for (const node of c.names) await c.store.create(client(`client-${node}`, node));
    await c.waitFor(async () => (await c.readyPods('client-')).length === 2, 60_000, 'client pods ready');
    for (const p of await c.readyPods('client-')) {
      const byName = (name: string) =>
        docker(
          'ps',
          '-q',
          '--no-trunc',
          '--filter',
          `label=ferry.pod.uid=${p.metadata.uid}`,
          '--filter',
          `label=ferry.container.name=${name}`,
        );
      clients.set(p.spec.nodeName as string, byName('sh'));
      nodeClients.set(p.spec.nodeName as string, byName('node'));
    }
  }, 180_000);

  it('reaches the Service at clusterIP:80 from a pod on each node, answered by pods on both nodes', async () => {
    // prepare
    const pods = await c.readyPods('web-');
    const podNodes = new Map(pods.map((p) => [p.metadata.name, p.spec.nodeName]));

    // act
    const seen = new Map<string, Set<string>>();
    for (const node of c.names) {
      const answers = new Set<string>();
      for (let i = 0; i < 20; i++)
        answers.add(exec(node, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${clusterIP}:80/`));
      seen.set(node, answers);
    }

    // assess
    console.log(`cluster IP ${clusterIP}:80: ${JSON.stringify([...seen].map(([n, s]) => [n, [...s]]))}`);
    expect(clusterIP).toMatch(/^10\.96\./);
    expect(new Set(podNodes.values()).size).toBe(2);
    for (const answers of seen.values()) expect(answers).toEqual(new Set(podNodes.keys()));
  }, 60_000);

  it('gives pods WEB_SERVICE_HOST and WEB_SERVICE_PORT at the cluster IP and the Service port', () => {
    // act
    const env = exec(c.names[0] as string, 'sh', '-c', 'echo "$WEB_SERVICE_HOST:$WEB_SERVICE_PORT $WEB_PORT"');
    const answer = exec(
      c.names[0] as string,
      'sh',
      '-c',
      'timeout 5 wget -q -O - "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT/"',
    );

    // assess
    expect(env).toBe(`${clusterIP}:80 tcp://${clusterIP}:80`);
    expect(answer).toMatch(/^web-/);
  });

  it('reaches the Service at clusterIP:80 from a process on the node itself', async () => {
    // act
    const answers = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://${clusterIP}:80/`, { signal: AbortSignal.timeout(5000) });
      answers.add((await res.text()).trim());
    }

    // assess
    expect(answers).toEqual(new Set((await c.readyPods('web-')).map((p) => p.metadata.name)));
  });

  it('answers UDP at the cluster IP from a pod on each node', () => {
    for (const node of c.names) {
      const answer = docker(
        'exec',
        nodeClients.get(node) as string,
        'node',
        '-e',
        UDP_ASK,
        udpIP,
        '53',
        `from-${node}`,
      );
      expect(answer).toBe(`echo:from-${node}`);
    }
  });

  it('loses no request through a rolling update of the backend', async () => {
    // prepare: a loop inside the client on the node, until told to stop (at most 5,000 requests or 120 s).
    const node = c.names[0] as string;
    const loop = containerLoop(clients.get(node) as string, `http://${clusterIP}:80/`);
    await new Promise((r) => setTimeout(r, 1000));

    // act
    const d = await c.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
    await c.store.update({ ...d, spec: { ...d?.spec, template: web('2').spec.template } } as Deployment);
    await c.waitFor(
      async () => {
        const pods = await c.pods('web-');
        const allNew = pods.every((p) =>
          p.spec.containers[0]?.env?.some((e) => e.name === 'VERSION' && e.value === '2'),
        );
        return (
          allNew && pods.length === 2 && (await c.readyPods('web-')).length === 2 && (await endpointCount('web')) === 2
        );
      },
      90_000,
      'rollout complete',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const { ok, failed } = await loop.stop();

    // assess
    console.log(`rolling update through ${clusterIP}:80: ${ok} ok, ${failed} failed`);
    expect(ok).toBeGreaterThan(50);
    expect(failed).toBe(0);
  }, 150_000);

  it('removes a Service’s redirect when the Service goes, and every chain when the agents stop', async () => {
    // prepare
    const chains = iptablesChains().filter((ch) => !chainsBefore.includes(ch));
    const natChains = chains.filter((ch) => ch.startsWith('FERRY-SVC-'));
    const unmasked = chains.filter((ch) => ch.startsWith('FERRY-XN-')).map((ch) => iptables('nat', '-S', ch));
    const rulesOf = () => natChains.map((ch) => iptables('nat', '-S', ch)).join('\n');
    const before = rulesOf();
    const eachChain = natChains.map((ch) => iptables('nat', '-S', ch));
    const crossings = chains
      .filter((ch) => ch.startsWith('FERRY-XB-'))
      .flatMap((ch) => iptables('filter', '-S', ch).split('\n'));
    const podIPs = (await c.readyPods('web-')).map((p) => p.status?.podIP as string);

    // act
    await c.store.delete({ kind: 'Service', namespace: 'default', name: 'udp' });
    await c.waitFor(async () => !rulesOf().includes(udpIP), 20_000, 'the UDP redirect removed');
    await c.stop();

    // assess
    // Two agents, each with its nat chain, the filter chain guarding its bridge's route_localnet and
    // the two letting its DNATed flows cross to the other node's bridge (filter) unmasqueraded (nat).
    expect(chains).toHaveLength(8);
    // Each web pod is reached by its pod IP from both nodes' chains (both bridges are on this
    // machine), not through a proxy or the other node's published port.
    for (const ip of podIPs)
      for (const rules of eachChain) expect(rules).toContain(`-j DNAT --to-destination ${ip}:8080`);
    // And the node whose bridge does not hold a pod lets exactly that DNATed flow across (one rule line).
    for (const ip of podIPs)
      expect(
        crossings.filter(
          (r) => r.includes(`-d ${ip}/32 -i br-`) && r.includes('--dport 8080 -m conntrack --ctstate DNAT -j ACCEPT'),
        ),
      ).toHaveLength(1);
    for (const rules of unmasked) expect(rules).toMatch(/-o br-\w+ -m conntrack --ctstate DNAT -j ACCEPT/);
    expect(before).toContain(`-d ${clusterIP}/32 -p tcp -m tcp --dport 80 -m statistic --mode random`);
    expect(before).toContain(`-d ${udpIP}/32 -p udp -m udp --dport 53 -j DNAT`);
    expect(iptablesChains().filter((ch) => chains.includes(ch))).toEqual([]);
  }, 60_000);
});
