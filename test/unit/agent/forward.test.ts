/**
 * The TCP forwarder and the service proxy with real sockets on 127.0.0.1: round-robin, retry on a
 * refused or silently closing backend, live endpoint changes that do not cut open connections.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceProxy } from '../../../agent/proxy/service-proxy';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A backend that answers each connection with its name (after reading a line), then closes. */
async function backend(name: string): Promise<number> {
  const s = createServer((sock) => {
    sock.once('data', () => sock.end(`${name}\n`));
    sock.on('error', () => {});
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** Accepts and closes at once without a byte: what Docker's userland proxy does for a gone container. */
async function blackHole(): Promise<number> {
  const s = createServer((sock) => sock.destroy());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function ask(port: number, text = 'hello\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => sock.write(text));
    let data = '';
    sock.on('data', (d) => {
      data += d;
    });
    sock.on('end', () => resolve(data.trim()));
    sock.on('error', reject);
    sock.on('close', () => resolve(data.trim()));
  });
}

function route(nodePort: number, endpoints: number[]): ServiceRoute[] {
  return [
    {
      namespace: 'default',
      name: 'web',
      ports: [{ port: 80, nodePort, protocol: 'TCP', endpoints: endpoints.map((port) => ({ ip: '127.0.0.1', port })) }],
    },
  ];
}

describe('service proxy', () => {
  let proxy: ServiceProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('spreads connections round-robin over the endpoints', async () => {
    // prepare
    const ports = [await backend('a'), await backend('b'), await backend('c')];
    const nodePort = await freePort();
    proxy = new ServiceProxy({ log });
    await proxy.setAddresses(['127.0.0.1']);
    await proxy.update(route(nodePort, ports));

    // act
    const answers: string[] = [];
    for (let i = 0; i < 30; i++) answers.push(await ask(nodePort));

    // assess
    for (const name of ['a', 'b', 'c']) expect(answers.filter((a) => a === name)).toHaveLength(10);
  });

  it('retries the next endpoint when one refuses or closes without answering, before the client sees an error', async () => {
    // prepare
    const good = await backend('good');
    const refused = await freePort();
    const hole = await blackHole();
    const nodePort = await freePort();
    const failures: string[] = [];
    proxy = new ServiceProxy({ log, forward: { onBackendFailed: (_b, reason) => failures.push(reason) } });
    await proxy.setAddresses(['127.0.0.1']);
    await proxy.update(route(nodePort, [refused, hole, good]));

    // act
    const answers: string[] = [];
    for (let i = 0; i < 9; i++) answers.push(await ask(nodePort));

    // assess
    expect(answers).toEqual(Array(9).fill('good'));
    expect(failures.some((f) => f.includes('ECONNREFUSED'))).toBe(true);
    expect(failures).toContain('closed before answering');
  });

  it('closes the client connection when no endpoint can take it', async () => {
    // prepare
    const nodePort = await freePort();
    proxy = new ServiceProxy({ log });
    await proxy.setAddresses(['127.0.0.1']);
    await proxy.update(route(nodePort, [await freePort()]));

    // act
    const answer = await ask(nodePort);

    // assess
    expect(answer).toBe('');
  });

  it('applies endpoint changes to new connections without cutting an open one, and stops listening for a removed Service', async () => {
    // prepare
    const a = await backend('a');
    const b = await backend('b');
    const nodePort = await freePort();
    proxy = new ServiceProxy({ log });
    await proxy.setAddresses(['127.0.0.1']);
    await proxy.update(route(nodePort, [a]));
    const open: Socket = connect({ host: '127.0.0.1', port: nodePort });
    await new Promise((r) => open.once('connect', r));
    let openAnswer = '';
    open.on('data', (d) => {
      openAnswer += d;
    });

    // act
    await proxy.update(route(nodePort, [b]));
    const fresh = await ask(nodePort);
    open.write('still there?\n');
    await new Promise((r) => open.once('close', r));
    await proxy.update([]);
    const afterRemoval = await ask(nodePort).catch((e: Error) => e.message);

    // assess
    expect(fresh).toBe('b');
    expect(openAnswer.trim()).toBe('a');
    expect(afterRemoval).toMatch(/ECONNREFUSED/);
  });

  it('replays a multi-chunk request to the next endpoint and carries large transfers both ways', async () => {
    // prepare
    const echo = createServer((sock) => sock.pipe(sock));
    servers.push(echo);
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const nodePort = await freePort();
    proxy = new ServiceProxy({ log });
    await proxy.setAddresses(['127.0.0.1']);
    await proxy.update(route(nodePort, [await blackHole(), echoPort]));
    const send = (payload: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const sock = connect({ host: '127.0.0.1', port: nodePort }, () => sock.end(payload));
        let n = 0;
        sock.on('data', (d) => {
          n += d.length;
        });
        sock.on('close', () => resolve(n));
        sock.on('error', reject);
      });

    // act: the first goes to the black hole first (replayed), the second starts at the echo server
    const replayed = await send(Buffer.alloc(48 * 1024, 1));
    const large = await send(Buffer.alloc(4 * 1024 * 1024, 2));

    // assess
    expect(replayed).toBe(48 * 1024);
    expect(large).toBe(4 * 1024 * 1024);
  });
});
