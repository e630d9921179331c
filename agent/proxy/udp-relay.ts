/**
 * UDP for a Service port (kube-proxy's userspace UDP proxy, in shape): one socket bound on
 * `address:port`, and one flow per client (its address and port) with a socket of its own
 * connected to one backend, chosen round-robin when the flow starts, so a client's datagrams and
 * the answers stay on one endpoint (what conntrack does for kube-proxy's DNAT). Answers go back to
 * the client from the bound socket, so a client that reached it through a cluster IP redirect sees
 * them come from the cluster IP.
 *
 * A backend that refuses (an ICMP port unreachable, seen as ECONNREFUSED on the connected socket)
 * moves the flow to the next one, with the last datagram sent again. A flow quiet for `idleMs`
 * (both ways) is closed; at most `maxFlows` are open, the oldest closed first, so a client
 * spraying source ports cannot exhaust the node's sockets.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Backend, RoundRobin } from './forward';

export interface UdpRelayOptions {
  address: string;
  port: number;
  balancer: RoundRobin;
  idleMs?: number;
  maxFlows?: number;
  /** Told about each backend that failed, for logs and tests. */
  onBackendFailed?: (backend: Backend, reason: string) => void;
}

interface Flow {
  client: RemoteInfo;
  candidates: Backend[];
  index: number;
  upstream: Socket;
  last: Buffer;
  timer: NodeJS.Timeout;
  /** Datagrams that arrived before the flow's socket was connected (a few at most). */
  pending: Buffer[] | undefined;
}

export class UdpRelay {
  private readonly socket: Socket;
  private readonly flows = new Map<string, Flow>();
  private readonly idleMs: number;
  private readonly maxFlows: number;
  private closed = false;

  constructor(private readonly options: UdpRelayOptions) {
    this.idleMs = options.idleMs ?? 30_000;
    this.maxFlows = options.maxFlows ?? 4096;
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.socket.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
  }

  /** Binds the socket; rejects when the address or port cannot be taken. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.options.port, this.options.address, () => {
        this.socket.off('error', reject);
        this.socket.on('error', () => {});
        resolve();
      });
    });
  }

  /** Open flows (for tests and the idle bound). */
  get flowCount(): number {
    return this.flows.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const key of [...this.flows.keys()]) this.endFlow(key);
    this.socket.close();
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const candidates = this.options.balancer.order();
      if (candidates.length === 0) return;
      if (this.flows.size >= this.maxFlows) {
        const oldest = this.flows.keys().next().value;
        if (oldest !== undefined) this.endFlow(oldest);
      }
      flow = this.startFlow(key, client, candidates, 0, msg);
      if (!flow) return;
    }
    flow.last = msg;
    this.touch(key, flow);
    this.send(flow, msg);
  }

  private startFlow(
    key: string,
    client: RemoteInfo,
    candidates: Backend[],
    index: number,
    last: Buffer,
  ): Flow | undefined {
    const backend = candidates[index];
    if (!backend) return undefined;
    const upstream = createSocket('udp4');
    const flow: Flow = { client, candidates, index, upstream, last, timer: setTimeout(() => {}, 0), pending: [] };
    upstream.on('message', (answer) => {
      this.touch(key, flow);
      this.socket.send(answer, client.port, client.address);
    });
    upstream.on('error', (err) => this.failed(key, flow, err.message));
    upstream.connect(backend.port, backend.host, () => {
      const queued = flow.pending ?? [];
      flow.pending = undefined;
      for (const msg of queued) this.send(flow, msg);
    });
    this.flows.set(key, flow);
    return flow;
  }

  private send(flow: Flow, msg: Buffer): void {
    if (flow.pending) {
      // Node refuses a send on a socket still connecting: hold it (bounded) until it is connected.
      if (flow.pending.length < 16) flow.pending.push(msg);
      return;
    }
    try {
      flow.upstream.send(msg);
    } catch {
      // The socket was closed meanwhile (the flow ended): the datagram is lost, as UDP allows.
    }
  }

  /** The backend refused: the flow moves to the next candidate with its last datagram. */
  private failed(key: string, flow: Flow, reason: string): void {
    if (this.flows.get(key) !== flow) return;
    const backend = flow.candidates[flow.index];
    if (backend) this.options.onBackendFailed?.(backend, reason);
    this.endFlow(key);
    const next = this.startFlow(key, flow.client, flow.candidates, flow.index + 1, flow.last);
    if (!next) return;
    this.touch(key, next);
    this.send(next, flow.last);
  }

  private touch(key: string, flow: Flow): void {
    clearTimeout(flow.timer);
    flow.timer = setTimeout(() => this.endFlow(key), this.idleMs);
    flow.timer.unref();
  }

  private endFlow(key: string): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    this.flows.delete(key);
    clearTimeout(flow.timer);
    flow.upstream.removeAllListeners('message');
    flow.upstream.on('error', () => {});
    try {
      flow.upstream.close();
    } catch {
      // Already closed.
    }
  }
}
