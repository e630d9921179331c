/**
 * The `local` provider's load balancers: one loopback address per Service (127.0.2.N, all of
 * 127.0.0.0/8 is loopback on Linux), listening on each Service port and spreading connections
 * round-robin over the Ready nodes' node ports, trying the next node before the client sees an
 * error. It forwards with the agent's forwarder (agent/proxy/forward.ts), so the load balancer
 * and the node proxies retry the same way. A port the process may not bind (below 1024 without
 * root, or taken) falls back to a free port, reported in `ingress.ports`.
 */
import { createServer, type Server } from 'node:net';
import { type Backend, forward, RoundRobin } from '../agent/proxy/forward';
import type { LoadBalancerIngress, LoadBalancerNode, LoadBalancerService } from './types';

interface Balancer {
  key: string;
  ip: string;
  /** By Service port and protocol: the listening server, the node port it feeds and its backends. */
  ports: Map<string, { server: Server; nodePort: number; balancer: RoundRobin; bound: number }>;
}

export class LocalLoadBalancers {
  private readonly balancers = new Map<string, Balancer>();

  constructor(private readonly subnet = '127.0.2') {}

  /** `scope` keeps apart the load balancers of one Service in two local Clouds. */
  async ensure(service: LoadBalancerService, nodes: LoadBalancerNode[], scope = ''): Promise<LoadBalancerIngress> {
    const key = `${scope}/${service.namespace}/${service.name}`;
    let lb = this.balancers.get(key);
    if (!lb) {
      lb = {
        key,
        ip: this.allocateIp(service.previousAddress),
        ports: new Map(),
      };
      this.balancers.set(key, lb);
    }
    const ready = nodes.filter((n) => n.ready);
    const wanted = new Set<string>();
    for (const p of service.ports) {
      if (p.protocol !== 'TCP') continue;
      const portKey = `${p.port}/${p.protocol}`;
      wanted.add(portKey);
      const backends: Backend[] = ready.map((n) => ({ host: n.address, port: p.nodePort }));
      const existing = lb.ports.get(portKey);
      if (existing && existing.nodePort === p.nodePort) {
        existing.balancer.backends = backends;
        continue;
      }
      if (existing) existing.server.close();
      const balancer = new RoundRobin(backends);
      const server = createServer({ allowHalfOpen: true }, (client) => {
        client.on('error', () => {});
        forward(client, balancer.order());
      });
      const bound = await listen(server, lb.ip, p.port);
      lb.ports.set(portKey, { server, nodePort: p.nodePort, balancer, bound });
    }
    for (const [portKey, entry] of lb.ports) {
      if (wanted.has(portKey)) continue;
      entry.server.close();
      lb.ports.delete(portKey);
    }
    return {
      ip: lb.ip,
      ports: [...lb.ports.entries()].map(([k, e]) => ({ port: e.bound, protocol: k.split('/')[1] as string })),
    };
  }

  async delete(service: { namespace: string; name: string }, scope = ''): Promise<void> {
    await this.close(`${scope}/${service.namespace}/${service.name}`);
  }

  private async close(key: string): Promise<void> {
    const lb = this.balancers.get(key);
    if (!lb) return;
    this.balancers.delete(key);
    await Promise.all([...lb.ports.values()].map((e) => new Promise<void>((r) => e.server.close(() => r()))));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.balancers.keys()].map((key) => this.close(key)));
  }

  private allocateIp(previous?: string): string {
    const used = new Set([...this.balancers.values()].map((b) => b.ip));
    if (previous?.startsWith(`${this.subnet}.`) && !used.has(previous)) return previous;
    for (let n = 1; n < 255; n++) {
      const ip = `${this.subnet}.${n}`;
      if (!used.has(ip)) return ip;
    }
    throw new Error(`local load balancers: no free address in ${this.subnet}.0/24`);
  }
}

/** Listens on the wanted port, else any free one; returns the port bound. */
async function listen(server: Server, ip: string, port: number): Promise<number> {
  const attempt = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, ip, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await attempt(port).catch(() => attempt(0));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
