/**
 * The UDP relay (agent/proxy/udp-relay.ts) on loopback: answers come back to the client, each
 * client's flow stays on one backend while new clients spread, a refusing backend is skipped with
 * the datagram sent again, quiet flows close, the flow count is bounded, and the service proxy
 * relays a UDP Service port on its node port.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { RoundRobin } from '../../../agent/proxy/forward';
import { ServiceProxy } from '../../../agent/proxy/service-proxy';
import { UdpRelay } from '../../../agent/proxy/udp-relay';

const sockets: Socket[] = [];
const relays: UdpRelay[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const r of relays.splice(0)) r.close();
});

async function bound(port = 0): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', r));
  return s;
}
const portOf = (s: Socket) => s.address().port;

/** An echo server that prefixes its answers with its name. */
async function echo(name: string): Promise<number> {
  const s = await bound();
  s.on('message', (msg, r) => s.send(`${name}:${msg}`, r.port, r.address));
  return portOf(s);
}

/** A port nothing listens on: the kernel answers ICMP port unreachable. */
async function closedPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = portOf(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function relay(backends: number[], options: { idleMs?: number; maxFlows?: number } = {}) {
  const port = await closedPort();
  const r = new UdpRelay({
    address: '127.0.0.1',
    port,
    balancer: new RoundRobin(backends.map((p) => ({ host: '127.0.0.1', port: p }))),
    ...options,
  });
  relays.push(r);
  await r.listen();
  return { r, port };
}

async function ask(client: Socket, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${text}`)), 3000);
    client.once('message', (msg) => {
      clearTimeout(timer);
      resolve(String(msg));
    });
    client.send(text, port, '127.0.0.1');
  });
}

describe('UDP relay', () => {
  it('answers each client from one backend for its whole flow, and spreads new clients round-robin', async () => {
    // prepare
    const { port } = await relay([await echo('a'), await echo('b')]);
    const one = await bound();
    const two = await bound();

    // act
    const first = [await ask(one, port, '1'), await ask(one, port, '2'), await ask(one, port, '3')];
    const second = await ask(two, port, 'x');

    // assess
    const backend = first[0]?.split(':')[0];
    expect(first).toEqual([`${backend}:1`, `${backend}:2`, `${backend}:3`]);
    expect(second.split(':')[0]).not.toBe(backend);
  });

  it('moves a flow whose backend refuses to the next one, sending the datagram again', async () => {
    // prepare
    const { port } = await relay([await closedPort(), await echo('b')]);
    const client = await bound();

    // act
    const answer = await ask(client, port, 'hello');

    // assess
    expect(answer).toBe('b:hello');
  });

  it('closes quiet flows after the idle timeout and keeps at most maxFlows open', async () => {
    // prepare
    const { r, port } = await relay([await echo('a')], { idleMs: 100, maxFlows: 2 });
    const clients = [await bound(), await bound(), await bound()];

    // act
    for (const [i, c] of clients.entries()) await ask(c, port, String(i));
    const open = r.flowCount;
    await new Promise((res) => setTimeout(res, 300));

    // assess
    expect(open).toBe(2);
    expect(r.flowCount).toBe(0);
  });

  it('drops datagrams when the Service has no endpoints, and stays up', async () => {
    // prepare
    const { r, port } = await relay([]);
    const client = await bound();

    // act
    client.send('lost', port, '127.0.0.1');
    await new Promise((res) => setTimeout(res, 50));

    // assess
    expect(r.flowCount).toBe(0);
  });
});

describe('the service proxy with a UDP Service port', () => {
  it('relays datagrams on the node port to the endpoints, and stops when the port leaves the table', async () => {
    // prepare
    const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
    const proxy = new ServiceProxy({ log });
    const nodePort = await closedPort();
    const backend = await echo('dns');
    await proxy.setAddresses(['127.0.0.1']);
    const client = await bound();

    // act
    await proxy.update([
      {
        namespace: 'default',
        name: 'dns',
        clusterIP: '10.96.0.10',
        ports: [{ port: 53, nodePort, protocol: 'UDP', endpoints: [{ ip: '127.0.0.1', port: backend }] }],
      },
    ]);
    const answer = await ask(client, nodePort, 'q');
    const flows = proxy.udpFlows(nodePort);
    await proxy.update([]);
    const after = await ask(client, nodePort, 'again').catch((err: Error) => err.message);
    await proxy.close();

    // assess
    expect(answer).toBe('dns:q');
    expect(flows).toBe(1);
    expect(after).toBe('no answer to again');
  });
});
