/**
 * The `local` provider's load balancer: a TCP proxy on loopback that spreads connections
 * round-robin over the targets (each node's node port), skipping nodes that are not Ready and
 * trying the next target when a connection is refused, before the client sees an error.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { LoadBalancerTarget } from './types';

interface Balancer {
  server: Server;
  targets: LoadBalancerTarget[];
  next: number;
  address: string;
}

export class LocalLoadBalancers {
  private readonly balancers = new Map<string, Balancer>();

  async ensure(key: string, port: number, targets: LoadBalancerTarget[]): Promise<{ address: string }> {
    const existing = this.balancers.get(key);
    if (existing) {
      existing.targets = targets;
      return { address: existing.address };
    }
    const lb: Balancer = { server: createServer(), targets, next: 0, address: '' };
    lb.server.on('connection', (client) => this.forward(lb, client));
    await new Promise<void>((resolve, reject) => {
      lb.server.once('error', reject);
      // Prefer the Service's own port; fall back to any free one if it is taken.
      lb.server.listen(port, '127.0.0.1', () => resolve());
    }).catch(
      () =>
        new Promise<void>((resolve, reject) => {
          lb.server.once('error', reject);
          lb.server.listen(0, '127.0.0.1', () => resolve());
        }),
    );
    const addr = lb.server.address();
    lb.address = typeof addr === 'object' && addr ? `127.0.0.1:${addr.port}` : '127.0.0.1';
    this.balancers.set(key, lb);
    return { address: lb.address };
  }

  async delete(key: string): Promise<void> {
    const lb = this.balancers.get(key);
    if (!lb) return;
    this.balancers.delete(key);
    await new Promise<void>((resolve) => lb.server.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.balancers.keys()].map((k) => this.delete(k)));
  }

  private forward(lb: Balancer, client: Socket): void {
    client.pause();
    const ready = lb.targets.filter((t) => t.ready);
    const attempt = (tries: number) => {
      if (tries >= ready.length) {
        client.destroy();
        return;
      }
      const target = ready[lb.next++ % ready.length] as LoadBalancerTarget;
      const upstream = connect({ host: target.address, port: target.port });
      upstream.once('error', () => {
        upstream.destroy();
        attempt(tries + 1);
      });
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
    };
    attempt(0);
  }
}
