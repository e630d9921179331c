/**
 * The HTTP server bounds slow clients (issue 18, Low): headers and bodies that never finish are
 * cut, the number of connections is capped — and watches, long responses to short requests, keep
 * streaming past every one of those deadlines. Limits are shortened so the test runs in seconds.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiHandler, ensureDefaults } from '../../../functions/api';
import { issueToken } from '../../../functions/api/tokens';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import { type ApiServer, type ServerLimits, startApiServer } from '../../../functions/runtime/http-server';
import { MemoryStore } from '../../../functions/store/memory';

let server: ApiServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

async function start(limits: Partial<ServerLimits>): Promise<{ server: ApiServer; token: string; deps: ApiDeps }> {
  const store = new MemoryStore(() => Date.now());
  const deps: ApiDeps = {
    store,
    clock: () => Date.now(),
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: '0.1.0', watch: true },
  };
  await ensureDefaults(deps);
  const { token } = await issueToken(deps, { name: 'admin', role: 'admin' });
  server = await startApiServer({
    handler: createApiHandler(deps),
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    log: silentLogger,
    limits,
  });
  return { server, token, deps };
}

/** A raw connection that records what comes back and when it closes. */
function rawClient(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let data = '';
    const opened = Date.now();
    socket.on('data', (d) => {
      data += d.toString();
    });
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - opened)));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

describe('HTTP server limits', () => {
  it('closes 20 endless chunked bodies at the body deadline, each with 408', async () => {
    const { server, token } = await start({ bodyMs: 500, requestMs: 5_000 });
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(server.port)));
    const timers: NodeJS.Timeout[] = [];
    for (const c of clients) {
      c.socket.write(
        `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      // A byte every 100 ms, forever: never the last chunk.
      timers.push(setInterval(() => c.socket.writable && c.socket.write('1\r\n \r\n'), 100));
    }
    const after = await Promise.all(clients.map((c) => c.closed));
    for (const t of timers) clearInterval(t);
    for (const ms of after) expect(ms).toBeLessThan(4_000);
    for (const c of clients) expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a connection whose headers never finish (slowloris) at the headers deadline', async () => {
    const { server } = await start({ headersMs: 500 });
    const c = await rawClient(server.port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => c.socket.writable && c.socket.write('X-A: b\r\n'), 100);
    const ms = await c.closed;
    clearInterval(timer);
    expect(ms).toBeLessThan(3_000);
  });

  it('keeps a watch streaming past the request, body and header deadlines', async () => {
    const { server, token, deps } = await start({ headersMs: 300, requestMs: 400, bodyMs: 300 });
    const c = await rawClient(server.port);
    c.socket.write(
      `GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 1_200));
    await deps.store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late', namespace: 'default' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(c.received()).toContain('"late"');
    expect(c.socket.destroyed).toBe(false);
  });

  it('refuses connections beyond the cap and serves again once they close', async () => {
    const { server } = await start({ maxConnections: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => rawClient(server.port)));
    await new Promise((r) => setTimeout(r, 100));
    const extra = await rawClient(server.port);
    expect(await extra.closed).toBeLessThan(2_000);
    for (const h of held) h.socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
