/**
 * End-to-end on real Docker: cluster DNS as applications use it. A 2-node local cluster, each node
 * serving DNS on its own pod network's gateway; a client pod on each node that resolves with the C
 * library (ferry.local/dns-client:1: getaddrinfo, the resolv.conf search list, ndots:5) and is
 * asked over HTTP from the test. Services by short name, `name.ns` and the full name, in the
 * client's namespace and another, reached at the Service port (which differs from the named
 * target port) through the cluster IP; a headless Service's pods, their hostname.subdomain names
 * and /etc/hosts; SRV records; an ExternalName and a name outside the cluster, both forwarded to a
 * resolver this test runs on a loopback address (no outside network), named by the agents'
 * resolv.conf (FERRY_RESOLV_CONF).
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from 'dns-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Pod } from '../../schemas';
import type { Service } from '../../schemas/service';
import { appContainers, docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { httpdDeployment } from './helpers/workloads';

const ROOT = join(import.meta.dirname, '../..');
const OUTSIDE_IP = '192.0.2.77';

/** The node's "real" resolver: answers `outside.example` (A), NXDOMAIN for anything else. */
class LoopbackResolver {
  readonly host = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  private udp!: Socket;
  private tcp!: Server;
  readonly asked: string[] = [];

  private answer(raw: Buffer): Buffer | undefined {
    try {
      const q = decode(raw);
      const question = q.questions?.[0];
      if (!question) return undefined;
      this.asked.push(question.name);
      const hit = question.name.toLowerCase() === 'outside.example' && question.type === 'A';
      return encode({
        type: 'response',
        id: q.id,
        flags: 0x0180 | (hit || question.name.toLowerCase() === 'outside.example' ? 0 : 3),
        questions: [question],
        answers: hit ? [{ type: 'A', name: question.name, ttl: 30, data: OUTSIDE_IP }] : [],
      });
    } catch {
      return undefined;
    }
  }

  async start(): Promise<void> {
    this.udp = createSocket('udp4');
    this.udp.on('message', (m, from) => {
      const reply = this.answer(m);
      if (reply) this.udp.send(reply, from.port, from.address);
    });
    await new Promise<void>((r) => this.udp.bind(53, this.host, r));
    this.tcp = createServer((s) => {
      s.on('error', () => {});
      s.once('data', (c: Buffer) => {
        const reply = this.answer(c.subarray(2));
        if (!reply) return void s.destroy();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        s.end(Buffer.concat([len, reply]));
      });
    });
    await new Promise<void>((r) => this.tcp.listen(53, this.host, r));
  }

  stop(): void {
    this.udp.close();
    this.tcp.close();
  }
}

const httpd = (name: string, namespace: string, reply: string) =>
  httpdDeployment(name, { namespace, reply, probe: 'tcp' });

const service = (name: string, namespace: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec,
});

function dbPod(hostname: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: hostname, namespace: 'default', labels: { app: 'db' } },
    spec: {
      hostname,
      subdomain: 'db',
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'db',
          image: 'ferry.local/busybox:1',
          command: ['sh', '-c', 'exec httpd -f -p 5432 -h /tmp'],
          ports: [{ name: 'pg', containerPort: 5432 }],
          readinessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1 },
        },
      ],
    },
  };
}

function clientPod(name: string, node: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'client',
          image: 'ferry.local/dns-client:1',
          imagePullPolicy: 'Never',
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        },
      ],
    },
  };
}

/** Asks a client pod over HTTP (its pod IP is reachable from this machine's side of the bridge). */
async function ask<T>(podIp: string, path: string): Promise<T> {
  const res = await fetch(`http://${podIp}:8080${path}`, { signal: AbortSignal.timeout(20_000) });
  return (await res.json()) as T;
}

describeDocker('e2e: cluster DNS on real Docker', () => {
  const upstream = new LoopbackResolver();
  const c = useCluster(2, {
    setupMs: 180_000,
    before: async () => {
      execFileSync('bash', [join(ROOT, 'scripts/build-dns-client-image.sh')], { stdio: 'ignore' });
      await upstream.start();
      const resolvConf = join(mkdtempSync(join(tmpdir(), 'ferry-dns-e2e-')), 'resolv.conf');
      writeFileSync(resolvConf, `nameserver ${upstream.host}\nsearch corp.example\n`);
      // The agents inherit it (the local provider passes its environment on).
      process.env.FERRY_RESOLV_CONF = resolvConf;
    },
  });
  const clients: Record<string, string> = {};
  const clusterIPs: Record<string, string> = {};
  const lookup = (client: string, name: string) =>
    ask<{ addresses?: string[]; error?: string }>(
      clients[client] as string,
      `/lookup?name=${encodeURIComponent(name)}`,
    );

  beforeAll(async () => {
    await c.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    await c.post('/apis/apps/v1/namespaces/default/deployments', httpd('web', 'default', 'web'));
    await c.post('/apis/apps/v1/namespaces/other/deployments', httpd('api', 'other', 'api'));
    for (const [name, ns, port] of [
      ['web', 'default', 80],
      ['api', 'other', 81],
    ] as const) {
      const svc = await c.post<Service>(
        `/api/v1/namespaces/${ns}/services`,
        service(name, ns, { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http' }] }),
      );
      clusterIPs[name] = svc.spec.clusterIP as string;
    }
    await c.post(
      '/api/v1/namespaces/default/services',
      service('db', 'default', { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'pg', port: 5432 }] }),
    );
    await c.post(
      '/api/v1/namespaces/default/services',
      service('ext', 'default', { type: 'ExternalName', externalName: 'outside.example' }),
    );
    for (const h of ['db-0', 'db-1']) await c.post('/api/v1/namespaces/default/pods', dbPod(h));
    for (const [i, node] of c.names.entries())
      await c.post('/api/v1/namespaces/default/pods', clientPod(`client-${i + 1}`, node));
    await c.waitFor(
      async () => (await c.readyPods()).filter((p) => /^(web|api|db|client)/.test(p.metadata.name)).length === 6,
      90_000,
      'web, api, db-0, db-1 and both clients ready',
    );
    for (const p of await c.readyPods('client-')) clients[p.metadata.name] = p.status?.podIP as string;
    // The routes reach the agents a moment after the endpoints: wait until names answer.
    await c.waitFor(
      async () => (await lookup('client-1', 'web')).addresses?.[0] === clusterIPs.web,
      30_000,
      'web to resolve from client-1',
      500,
    );
  }, 240_000);

  afterAll(async () => {
    delete process.env.FERRY_RESOLV_CONF;
    await c.stop();
    upstream.stop();
  }, 60_000);

  it("gives each pod its own node's DNS server, the cluster search list and ndots:5", async () => {
    const confs = (await c.readyPods('client-')).map((p) => {
      const [id] = appContainers(p as Pod);
      return docker(
        'exec',
        id as string,
        'node',
        '-e',
        "process.stdout.write(require('fs').readFileSync('/etc/resolv.conf','utf8'))",
      );
    });
    const servers = confs.map((t) => /nameserver (\S+)/.exec(t)?.[1]);
    expect(new Set(servers).size).toBe(2);
    for (const t of confs) {
      expect(t).toContain('search default.svc.cluster.local svc.cluster.local cluster.local corp.example');
      expect(t).toContain('options ndots:5');
    }
  });

  it("resolves a Service in the pod's own namespace by short name, name.ns, name.ns.svc and the full name", async () => {
    for (const name of [
      'web',
      'web.default',
      'web.default.svc',
      'web.default.svc.cluster.local',
      'web.default.svc.cluster.local.',
    ])
      expect((await lookup('client-1', name)).addresses, name).toEqual([clusterIPs.web]);
  });

  it('resolves a Service of another namespace by name.ns and the full name, not by its short name', async () => {
    for (const name of ['api.other', 'api.other.svc', 'api.other.svc.cluster.local'])
      expect((await lookup('client-1', name)).addresses, name).toEqual([clusterIPs.api]);
    expect((await lookup('client-1', 'api')).error).toBe('ENOTFOUND');
    expect((await lookup('client-1', 'nothere')).error).toBe('ENOTFOUND');
  });

  it('resolves the same names from a pod on the other node, through that node’s DNS server', async () => {
    expect((await lookup('client-2', 'web')).addresses).toEqual([clusterIPs.web]);
    expect((await lookup('client-2', 'api.other')).addresses).toEqual([clusterIPs.api]);
  });

  it('reaches Services by name at the Service port (80, 81) where the named target port is 8080', async () => {
    for (const client of ['client-1', 'client-2']) {
      for (const [url, body] of [
        ['http://web/', 'web'],
        ['http://web.default.svc.cluster.local:80/', 'web'],
        ['http://api.other:81/', 'api'],
        ['http://api.other.svc.cluster.local:81/', 'api'],
      ]) {
        const res = await ask<{ status?: number; body?: string; error?: string }>(
          clients[client] as string,
          `/get?url=${encodeURIComponent(url as string)}`,
        );
        expect(res, `${client} ${url}`).toEqual({ status: 200, body: `${body}\n` });
      }
    }
  });

  it("answers a headless Service with its pods' addresses, and hostname.subdomain with one pod's", async () => {
    const pods = new Map((await c.readyPods('db-')).map((p) => [p.metadata.name, p.status?.podIP as string]));
    expect(((await lookup('client-1', 'db')).addresses ?? []).sort()).toEqual([...pods.values()].sort());
    expect((await lookup('client-1', 'db-0.db')).addresses).toEqual([pods.get('db-0')]);
    expect((await lookup('client-1', 'db-1.db.default.svc.cluster.local')).addresses).toEqual([pods.get('db-1')]);
  });

  it('gives a pod with hostname and subdomain that hostname and its FQDN in /etc/hosts', async () => {
    const db0 = (await c.readyPods('db-0'))[0] as Pod;
    const [id] = appContainers(db0);
    expect(docker('exec', id as string, 'hostname')).toBe('db-0');
    expect(docker('exec', id as string, 'cat', '/etc/hosts')).toMatch(
      new RegExp(`${db0.status?.podIP}\\s+db-0\\.db\\.default\\.svc\\.cluster\\.local\\s+db-0`),
    );
  });

  it('answers SRV for named ports: the Service port and name, or one target per headless pod', async () => {
    const web = await ask<{ records: { name: string; port: number }[] }>(
      clients['client-1'] as string,
      '/srv?name=_http._tcp.web.default.svc.cluster.local',
    );
    expect(web.records).toEqual([{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    const db = await ask<{ records: { name: string; port: number }[] }>(
      clients['client-1'] as string,
      '/srv?name=_pg._tcp.db.default.svc.cluster.local',
    );
    expect(db.records.map((r) => `${r.name}:${r.port}`).sort()).toEqual([
      'db-0.db.default.svc.cluster.local:5432',
      'db-1.db.default.svc.cluster.local:5432',
    ]);
  });

  it("forwards a name outside the cluster to the node's resolver, and follows an ExternalName to it", async () => {
    expect((await lookup('client-1', 'outside.example')).addresses).toEqual([OUTSIDE_IP]);
    expect(upstream.asked).toContain('outside.example');
    expect((await lookup('client-2', 'ext')).addresses).toEqual([OUTSIDE_IP]);
    expect((await lookup('client-1', 'nowhere.example')).error).toBe('ENOTFOUND');
  });
});
