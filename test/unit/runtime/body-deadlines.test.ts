/**
 * Request bodies share one sweep timer (body-deadlines.ts): a body still arriving at its deadline
 * is expired by the next sweep, one read in time is not, and each body keeps its own deadline.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { BodyDeadlines, sweepInterval } from '../../../functions/runtime/body-deadlines';
import { type ApiServer, startApiServer } from '../../../functions/runtime/http-server';

let deadlines: BodyDeadlines | undefined;
let server: ApiServer | undefined;
afterEach(async () => {
  deadlines?.close();
  await server?.close();
  server = undefined;
});

/** Sends a chunked POST to `path` a chunk every 100 ms for `ms`, then ends it; resolves with the status line. */
function trickle(port: number, path: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        clearInterval(timer);
        socket.destroy();
        resolve(data.split('\r\n')[0] as string);
      }
    });
    socket.on('error', reject);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const start = Date.now();
    const timer = setInterval(() => {
      if (!socket.writable) return;
      if (Date.now() - start < ms) socket.write('1\r\n \r\n');
      else {
        clearInterval(timer);
        socket.write('0\r\n\r\n');
      }
    }, 100);
  });
}

describe('body deadlines', () => {
  it('expires a body once its deadline has passed, and only then', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    const expired: string[] = [];
    deadlines.add(500, () => expired.push('a'));
    now = 499;
    deadlines.sweep();
    expect(expired).toEqual([]);
    now = 500;
    deadlines.sweep();
    expect(expired).toEqual(['a']);
    deadlines.sweep();
    expect(expired).toEqual(['a']);
    expect(deadlines.size()).toBe(0);
  });

  it('never expires a body released before its deadline', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    let expired = false;
    const release = deadlines.add(100, () => {
      expired = true;
    });
    release();
    now = 1_000;
    deadlines.sweep();
    expect(expired).toBe(false);
    expect(deadlines.size()).toBe(0);
  });

  it('keeps each body to its own deadline', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    const expired: string[] = [];
    deadlines.add(20_000, () => expired.push('default'));
    deadlines.add(120_000, () => expired.push('held'));
    now = 20_000;
    deadlines.sweep();
    expect(expired).toEqual(['default']);
    now = 120_000;
    deadlines.sweep();
    expect(expired).toEqual(['default', 'held']);
  });

  it('sweeps on its own timer, so a trickled body ends without anyone calling sweep', async () => {
    deadlines = new BodyDeadlines(20);
    const ended = new Promise<number>((resolve) => {
      const start = performance.now();
      deadlines?.add(50, () => resolve(performance.now() - start));
    });
    const took = await ended;
    expect(took).toBeGreaterThanOrEqual(49);
    expect(took).toBeLessThan(2_000);
  });

  it('sweeps a quarter of the body deadline, between 10 ms and 1 s', () => {
    expect(sweepInterval(20_000)).toBe(1_000);
    expect(sweepInterval(500)).toBe(125);
    expect(sweepInterval(1)).toBe(10);
  });

  it('lets a request name a longer deadline of its own, and still cuts the others at the server deadline', async () => {
    server = await startApiServer({
      handler: async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }),
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 1_000_000,
      log: silentLogger,
      limits: { bodyMs: 300, requestMs: 10_000 },
      bodyDeadlineMs: (req) => (req.url === '/long' ? 5_000 : undefined),
    });

    const [long, other] = await Promise.all([trickle(server.port, '/long', 900), trickle(server.port, '/other', 900)]);

    expect(long).toBe('HTTP/1.1 200 OK');
    expect(other).toBe('HTTP/1.1 408 Request Timeout');
  });
});
