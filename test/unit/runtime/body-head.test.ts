/**
 * The HTTP server's reading of a held sync streaming beats (functions/runtime/body-head.ts): the
 * handler gets the first line as the body and the rest as it arrives; a head past the body limit
 * is a 413; an endless body is cut by the server's bound on receiving a request, whatever the
 * handler did; a tail nobody reads does not keep the connection from its next request.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiRequest, ApiResponse } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import { type ApiServer, type ServerLimits, startApiServer } from '../../../functions/runtime/http-server';
import { SYNC_BEATS_HEADER } from '../../../schemas/agent-beats';

let server: ApiServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chunk = (data: string) => `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;

async function start(handler: (req: ApiRequest) => Promise<ApiResponse>, limits: Partial<ServerLimits> = {}) {
  server = await startApiServer({
    handler,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: 1_000,
    log: silentLogger,
    limits,
  });
  return server;
}

function open(s: ApiServer) {
  const url = new URL(s.url);
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('utf8');
  });
  socket.on('error', () => undefined);
  socket.write(
    `POST /x HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n${SYNC_BEATS_HEADER}: 1\r\n\r\n`,
  );
  return { socket, text: () => text };
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !check()) await sleep(25);
}

describe('reading a body to its first line', () => {
  it('gives the handler the first line as the body and the later bytes as they come', async () => {
    // prepare
    const seen: { body?: string; tail: string[] } = { tail: [] };
    let ended = false;
    const s = await start(async (req) => {
      seen.body = Buffer.from(req.body ?? []).toString('utf8');
      req.bodyTail?.read(
        (c) => seen.tail.push(Buffer.from(c).toString('utf8')),
        () => {
          ended = true;
        },
      );
      return { status: 200, headers: {}, body: 'ok' };
    });
    const c = open(s);

    // act
    c.socket.write(chunk('{"a":1}\n.'));
    await sleep(100);
    c.socket.write(chunk('.'));
    await sleep(100);
    c.socket.write('0\r\n\r\n');
    await until(() => ended, 2_000);

    // assess
    expect(seen.body).toBe('{"a":1}');
    expect(seen.tail.join('')).toBe('..');
    expect(ended).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200/);
  });

  it('answers 413 to a first line longer than the body limit, without calling the handler', async () => {
    // prepare
    let called = false;
    const s = await start(async () => {
      called = true;
      return { status: 200, headers: {}, body: 'ok' };
    });
    const c = open(s);

    // act
    c.socket.write(chunk('x'.repeat(1_500)));
    await until(() => c.text().length > 0, 2_000);

    // assess
    expect(c.text()).toMatch(/^HTTP\/1\.1 413/);
    expect(called).toBe(false);
  });

  it('cuts a body that never ends once the bound on receiving a request runs out, though its answer went out', async () => {
    // prepare: the handler answers at once and never reads the tail
    const s = await start(async () => ({ status: 200, headers: {}, body: 'ok' }), { requestMs: 1_500 });
    const c = open(s);
    c.socket.write(chunk('{}\n'));

    // act: a beat every 100 ms, forever
    const started = Date.now();
    const beating = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(chunk('.'));
    }, 100);
    await until(() => c.socket.destroyed || c.socket.readableEnded, 6_000);
    clearInterval(beating);

    // assess
    expect(c.text()).toMatch(/^HTTP\/1\.1 200/);
    expect(c.socket.destroyed || c.socket.readableEnded).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('takes the next request on the connection after an unread tail ended', async () => {
    // prepare
    const s = await start(async (req) => ({ status: 200, headers: {}, body: req.bodyTail ? 'beats' : 'plain' }));
    const c = open(s);
    c.socket.write(chunk('{}\n..'));
    await until(() => c.text().includes('beats'), 2_000);

    // act
    c.socket.write('0\r\n\r\n');
    c.socket.write(`POST /y HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}`);
    await until(() => c.text().includes('plain'), 2_000);

    // assess
    expect(c.text()).toContain('plain');
  });
});
