/**
 * A minimal WebSocket client (RFC 6455) for the port-forward tunnel's tests: the `ws` package's
 * client refuses kubectl's subprotocol `SPDY/3.1+portforward.k8s.io` (a '/' is not a token
 * character), and Go's gorilla/websocket, which kubectl uses, sends it as is. The connection is
 * a Duplex of bytes: each write one masked binary message, each binary message read pushed on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface RawWebSocket {
  stream: Duplex;
  /** The subprotocol the server answered. */
  protocol: string | undefined;
}

/** Opens the WebSocket; rejects with the status line when the server does not switch protocols. */
export function rawWebSocket(url: string, path: string, token: string, protocols: string[]): Promise<RawWebSocket> {
  const { hostname, port } = new URL(url);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('error', reject);
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        `Authorization: Bearer ${token}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${key}`,
        `Sec-WebSocket-Protocol: ${protocols.join(', ')}`,
        '',
        '',
      ].join('\r\n'),
    );
    let buf = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onHead);
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const header = (name: string) =>
        lines
          .find((l) => l.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      if (!lines[0]?.startsWith('HTTP/1.1 101')) return reject(new Error(`refused: ${lines[0]}`));
      if (header('sec-websocket-accept') !== accept) return reject(new Error('bad Sec-WebSocket-Accept'));
      resolve({ stream: frames(socket, buf.subarray(end + 4)), protocol: header('sec-websocket-protocol') });
    };
    socket.on('data', onHead);
  });
}

function frames(socket: import('node:net').Socket, first: Buffer): Duplex {
  let pending = first;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      socket.write(frame(0x2, chunk), done);
    },
    final(done) {
      socket.end(frame(0x8, Buffer.from([0x03, 0xe8])), () => done());
    },
    destroy(err, done) {
      socket.destroy();
      done(err);
    },
  });
  const parse = () => {
    while (pending.length >= 2) {
      const op = (pending[0] as number) & 0x0f;
      let len = (pending[1] as number) & 0x7f;
      let at = 2;
      if (len === 126) {
        if (pending.length < 4) return;
        len = pending.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (pending.length < 10) return;
        len = Number(pending.readBigUInt64BE(2));
        at = 10;
      }
      if (pending.length < at + len) return;
      const payload = pending.subarray(at, at + len);
      pending = pending.subarray(at + len);
      if (op === 0x2 || op === 0x0) stream.push(Buffer.from(payload));
      else if (op === 0x9) socket.write(frame(0xa, payload));
      else if (op === 0x8) {
        stream.push(null);
        socket.end();
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    parse();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', () => undefined);
  if (pending.length > 0) queueMicrotask(parse);
  return stream;
}

/** One masked frame (a client must mask), FIN set. */
function frame(op: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | op, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | op, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | op, 0x80 | 127]), u64(len)]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, mask, body]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
