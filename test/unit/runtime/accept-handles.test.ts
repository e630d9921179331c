/**
 * The API server accepts on several handles of its listening socket (accept-handles.ts), so a
 * burst of connections is taken in a few loop turns rather than one per turn (Node 20's libuv),
 * keeps its connection cap across all of them, closes every handle with the server, and sizes
 * its cap under the process's open-file limit.
 */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import {
  type ApiServer,
  connectionLimit,
  type ServerLimits,
  startApiServer,
} from '../../../functions/runtime/http-server';

let server: ApiServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

async function start(limits: Partial<ServerLimits>): Promise<ApiServer> {
  server = await startApiServer({
    handler: async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }),
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: 1024,
    log: silentLogger,
    limits,
  });
  return server;
}

const turn = () => new Promise((r) => setImmediate(r));

/** Opens `n` connections while the loop is blocked, then counts what the server took in two turns. */
async function acceptedInTwoTurns(s: ApiServer, n: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    const socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    sockets.push(socket);
  }
  // The kernel completes the handshakes while this thread is busy: all n wait in the accept queue.
  const until = Date.now() + 300;
  while (Date.now() < until) {}
  await turn();
  await turn();
  return s.openConnections();
}

describe('accepting on several handles', () => {
  it('takes a burst of 100 connections sixteen a turn, where one handle takes one', async () => {
    const many = await start({ extraAcceptHandles: 15 });
    expect(await many.acceptHandles).toBe(16);
    const withMany = await acceptedInTwoTurns(many, 100);
    for (const x of sockets.splice(0)) x.destroy();
    await many.close();
    const one = await start({ extraAcceptHandles: 0 });
    expect(await one.acceptHandles).toBe(1);
    const withOne = await acceptedInTwoTurns(one, 100);
    expect(withOne).toBeLessThanOrEqual(2);
    expect(withMany).toBeGreaterThanOrEqual(16);
  });

  it('serves requests that arrive on any handle', async () => {
    const s = await start({ extraAcceptHandles: 3 });
    await s.acceptHandles;
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${s.url}/x`, { headers: { connection: 'close' } }).then((r) => r.text())),
    );
    expect(answers.every((a) => a === 'ok')).toBe(true);
  });

  it('keeps one connection cap across every handle', async () => {
    const s = await start({ extraAcceptHandles: 7, maxConnections: 10 });
    await s.acceptHandles;
    let closed = 0;
    for (let i = 0; i < 30; i++) {
      const socket = connect(s.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => closed++);
      sockets.push(socket);
    }
    // The 20 past the cap are closed as they are accepted; the 10 within it stay open.
    for (let waited = 0; closed < 20 && waited < 3_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(20);
    expect(s.openConnections()).toBe(10);
  });

  it('answers no request on any handle once closed: kept-alive connections end after their answer', async () => {
    // A handler that holds each request a while, like a held sync, and counts what it serves.
    let closedAt = 0;
    let servedAfterClose = 0;
    server = await startApiServer({
      handler: async () => {
        if (closedAt) servedAfterClose++;
        await new Promise((r) => setTimeout(r, 300));
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
      },
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 1024,
      log: silentLogger,
      limits: { extraAcceptHandles: 7 },
    });
    const s = server;
    await s.acceptHandles;
    const agent = new Agent({ keepAlive: true, maxSockets: 24 });
    const ask = () =>
      new Promise<string>((resolve) => {
        const req = request(`${s.url}/x`, { agent }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        req.end();
      });
    const first = Array.from({ length: 24 }, ask);
    for (let waited = 0; s.openConnections() < 24 && waited < 3_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    closedAt = Date.now();
    const closing = s.close();
    server = undefined;
    const answers = await Promise.all(first);
    const again = await Promise.all(Array.from({ length: 24 }, ask));
    await closing;
    agent.destroy();
    expect(answers.every((a) => a === 'ok')).toBe(true);
    expect(again.some((a) => a === 'ok')).toBe(false);
    expect(servedAfterClose).toBe(0);
  });

  it('stops accepting on every handle when it closes', async () => {
    const s = await start({ extraAcceptHandles: 5 });
    await s.acceptHandles;
    const port = s.port;
    await s.close();
    server = undefined;
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('the connection cap', () => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;

  it('keeps the wanted cap when the file limit leaves room for it', () => {
    expect(connectionLimit(16_384, limits('20000'))).toBe(16_384);
    expect(connectionLimit(16_384, limits('unlimited'))).toBe(16_384);
    expect(connectionLimit(16_384, '')).toBe(16_384);
  });

  it('stays a thousand descriptors under a tighter file limit', () => {
    expect(connectionLimit(16_384, limits('4096'))).toBe(3_072);
    expect(connectionLimit(16_384, limits('1024'))).toBe(64);
  });

  it('never raises a cap the caller set lower', () => {
    expect(connectionLimit(5, limits('1024'))).toBe(5);
  });
});
