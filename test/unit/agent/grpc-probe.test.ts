/**
 * The gRPC probe against a grpc.health.v1 server on node:http2 in this process: SERVING passes,
 * NOT_SERVING and an unknown service fail with the kubelet's messages, a server that never
 * answers times out, and nothing listening fails to connect.
 */
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, grpcHealthCheck, servingStatus } from '../../../agent/grpc-probe';

/** service name -> ServingStatus; 'hang' never answers. */
const SERVICES: Record<string, number> = { '': 1, shop: 1, cart: 2 };
let server: Http2Server;
let port: number;
const seen: string[] = [];

function answer(status: number): Buffer {
  const msg = status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, status]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

beforeAll(async () => {
  server = createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const msg = body.subarray(5);
      const service = msg.length ? msg.subarray(2, 2 + (msg[1] ?? 0)).toString('utf8') : '';
      seen.push(`${headers[':path']} ${service}`);
      if (service === 'hang') return;
      const status = SERVICES[service];
      if (status === undefined) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'unknown service' },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(answer(status));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('gRPC health probe', () => {
  it('passes when the service answers SERVING, sending the service name to Health/Check', async () => {
    expect(await grpcHealthCheck('127.0.0.1', port, 'shop', 1000)).toEqual({ ok: true });
    expect(await grpcHealthCheck('127.0.0.1', port, '', 1000)).toEqual({ ok: true });
    expect(seen).toContain('/grpc.health.v1.Health/Check shop');
  });

  it('fails NOT_SERVING with the kubelet message', async () => {
    expect(await grpcHealthCheck('127.0.0.1', port, 'cart', 1000)).toEqual({
      ok: false,
      message: 'service unhealthy (responded with "NOT_SERVING")',
    });
  });

  it('fails an unknown service with the gRPC status', async () => {
    const result = await grpcHealthCheck('127.0.0.1', port, 'nope', 1000);
    expect(result).toEqual({
      ok: false,
      message: 'health rpc probe failed: rpc error: code = 5 desc = unknown service',
    });
  });

  it('times out a server that never answers', async () => {
    const result = await grpcHealthCheck('127.0.0.1', port, 'hang', 300);
    expect(result).toEqual({ ok: false, message: 'timeout: health rpc did not complete within 0.3s' });
  });

  it('fails to connect where nothing listens', async () => {
    const result = await grpcHealthCheck('127.0.0.1', 1, '', 1000);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(/^failed to connect service "127.0.0.1:1" within 1s/);
  });

  it('frames the request and reads the status field however the message is laid out', () => {
    expect(frame('')).toEqual(Buffer.from([0, 0, 0, 0, 0]));
    expect(frame('ab')).toEqual(Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]));
    expect(servingStatus(answer(1))).toBe(1);
    expect(servingStatus(answer(0))).toBe(0);
    // an unknown length-delimited field before the status is skipped
    const msg = Buffer.from([0x12, 1, 0x78, 0x08, 2]);
    expect(servingStatus(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]))).toBe(2);
    expect(servingStatus(Buffer.from([1, 0, 0, 0, 0]))).toBeUndefined();
  });
});
