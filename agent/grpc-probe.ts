/**
 * The gRPC health check the kubelet's grpc probe makes (grpc.health.v1.Health/Check), over
 * node:http2 with no dependency: one unary call, a 5-byte prefix (compressed flag, length) before
 * each protobuf message. HealthCheckRequest is `string service = 1`; HealthCheckResponse is
 * `ServingStatus status = 1` (SERVING = 1). Messages follow the kubelet's
 * (pkg/probe/grpc/grpc.go). https://github.com/grpc/grpc/blob/master/doc/health-checking.md
 */
import { connect } from 'node:http2';
/** What a probe found (probes.ts's ProbeResult, declared here so the two files do not import each other). */
export type ProbeResult = { ok: true } | { ok: false; message: string };

const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export function grpcHealthCheck(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve) => {
    let settled = false;
    const client = connect(`http://${address}`);
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, message: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` }),
      timeoutMs,
    );
    let connected = false;
    client.on('connect', () => {
      connected = true;
    });
    const failed = (err: Error) =>
      done({
        ok: false,
        message: connected
          ? `health rpc failed: ${err.message}`
          : `failed to connect service "${address}" within ${timeoutMs / 1000}s: ${err.message}`,
      });
    client.on('error', failed);
    const req = client.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const readStatus = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
      if (headers['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(headers['grpc-message']));
    };
    req.on('response', readStatus); // a "trailers-only" answer carries the status in the headers
    req.on('trailers', readStatus);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', failed);
    req.on('end', () => {
      if (grpcStatus !== '0') {
        done({
          ok: false,
          message: `health rpc probe failed: rpc error: code = ${grpcStatus ?? 'unknown'} desc = ${grpcMessage}`,
        });
        return;
      }
      const status = servingStatus(Buffer.concat(chunks));
      done(
        status === 1
          ? { ok: true }
          : { ok: false, message: `service unhealthy (responded with "${STATUS[status ?? 0] ?? status}")` },
      );
    });
    req.end(frame(service));
  });
}

/** The request: a length-prefixed HealthCheckRequest (field 1, wire type 2, only when `service` is set). */
export function frame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const msg = name.length ? Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]) : Buffer.alloc(0);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** field 1 (varint) of the first length-prefixed message; 0 (UNKNOWN) when absent, as proto3 omits defaults. */
export function servingStatus(body: Buffer): number | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const msg = body.subarray(5, 5 + body.readUInt32BE(1));
  let i = 0;
  while (i < msg.length) {
    const [key, next] = readVarint(msg, i);
    i = next;
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) {
      const [value, after] = readVarint(msg, i);
      if (field === 1) return value;
      i = after;
    } else if (wire === 2) {
      const [len, after] = readVarint(msg, i);
      i = after + len;
    } else return undefined;
  }
  return 0;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function readVarint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = start;
  while (i < buf.length && shift < 35) {
    const b = buf[i++] as number;
    value |= (b & 0x7f) << shift;
    if (!(b & 0x80)) return [value >>> 0, i];
    shift += 7;
  }
  return [value >>> 0, buf.length];
}
