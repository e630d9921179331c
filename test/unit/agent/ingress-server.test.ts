/**
 * The node's built-in ingress with real sockets on 127.0.0.1: host and path routing to two
 * Services, X-Forwarded-* headers, 404/503/502 answers, a refused endpoint skipped, TLS picked
 * by SNI, a WebSocket upgrade passed through, and hostile requests.
 */
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { certFor } from '../../../agent/ingress/certificates';
import { IngressServer } from '../../../agent/ingress/ingress-server';
import type { IngressCert, IngressTable, ServiceRoute } from '../../../schemas/agent-protocol';
import { selfSigned } from '../../helpers/certs';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const closers: (() => Promise<void>)[] = [];
/** Upgraded connections the backends saw end (the ingress passed the client's leaving on). */
let upgradesEnded = 0;

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** An HTTP backend answering with its name, the path it saw and the headers it got. */
async function backend(name: string): Promise<number> {
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, url: req.url, headers: req.headers, body }));
    });
  });
  const upgraded = new Set<Socket>();
  s.on('upgrade', (_req, socket: Socket) => {
    upgraded.add(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(`${name}:${d}`));
    socket.on('end', () => {
      upgradesEnded++;
      socket.end();
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        s.close(() => r());
        s.closeAllConnections();
        for (const u of upgraded) u.destroy();
      }),
  );
  return (s.address() as { port: number }).port;
}

async function refusedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const route = (name: string, ports: { port: number; name?: string; endpoints: number[] }[]): ServiceRoute => ({
  namespace: 'default',
  name,
  ports: ports.map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: p.port,
    nodePort: 30000 + p.port,
    protocol: 'TCP',
    endpoints: p.endpoints.map((port) => ({ ip: '127.0.0.1', port })),
  })),
});

async function start(table: IngressTable, routes: ServiceRoute[]): Promise<IngressServer> {
  const ing = new IngressServer({ log, address: '127.0.0.1', httpPort: 0, httpsPort: 0 });
  await ing.update(table, routes);
  closers.push(() => ing.close());
  return ing;
}

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  json?: { name: string; url: string; headers: IncomingHttpHeaders; body: string };
  text: string;
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => {
        let json: Got['json'];
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ...(json ? { json } : {}) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ref = (name: string, port: number | string = 80) => ({ namespace: 'default', name, port });

describe('the built-in ingress serving HTTP', () => {
  let webPort: number;
  let apiPort: number;
  let table: IngressTable;

  beforeAll(() => {
    table = {
      rules: [
        { ingress: 'default/a', host: 'shop.example.com', path: '/', pathType: 'Prefix', backend: ref('web') },
        {
          ingress: 'default/a',
          host: 'shop.example.com',
          path: '/api',
          pathType: 'Prefix',
          backend: ref('api', 'http'),
        },
        { ingress: 'default/a', host: 'blog.example.com', path: '/', pathType: 'Prefix', backend: ref('api', 'http') },
        { ingress: 'default/a', host: 'gone.example.com', path: '/', pathType: 'Prefix', backend: ref('missing') },
        { ingress: 'default/a', host: 'empty.example.com', path: '/', pathType: 'Prefix', backend: ref('empty') },
      ],
      defaults: [],
      tls: [],
    };
  });

  async function cluster(): Promise<number> {
    webPort = await backend('web');
    apiPort = await backend('api');
    const ing = await start(table, [
      route('web', [{ port: 80, endpoints: [webPort] }]),
      route('api', [{ port: 8080, name: 'http', endpoints: [apiPort] }]),
      route('empty', [{ port: 80, endpoints: [] }]),
    ]);
    return ing.boundPort('http') as number;
  }

  it('routes two hosts and two paths to two Services, keeping the path and query', async () => {
    // prepare
    const port = await cluster();

    // act
    const shop = await get(port, '/index.html?a=1', { host: 'shop.example.com' });
    const api = await get(port, '/api/items', { host: 'shop.example.com' });
    const blog = await get(port, '/', { host: 'blog.example.com:80' });
    const notApi = await get(port, '/apix', { host: 'shop.example.com' });

    // assess
    expect([shop.json?.name, shop.json?.url]).toEqual(['web', '/index.html?a=1']);
    expect([api.json?.name, api.json?.url]).toEqual(['api', '/api/items']);
    expect(blog.json?.name).toBe('api');
    expect(notApi.json?.name).toBe('web');
  });

  it('answers 404 when nothing matches, 503 for a Service without endpoints or not known, and says why', async () => {
    // prepare
    const port = await cluster();

    // act
    const none = await get(port, '/', { host: 'nobody.example.com' });
    const gone = await get(port, '/', { host: 'gone.example.com' });
    const empty = await get(port, '/', { host: 'empty.example.com' });

    // assess
    expect(none.status).toBe(404);
    expect(gone.status).toBe(503);
    expect(gone.text).toContain('default/missing');
    expect(empty.status).toBe(503);
    expect(empty.text).toContain('no ready endpoint');
  });

  it('sets X-Forwarded-For/Proto/Host/Port, appending to a client chain and replacing forged Proto and Host', async () => {
    // prepare
    const port = await cluster();

    // act
    const res = await get(port, '/', {
      host: 'shop.example.com',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example.com',
    });

    // assess
    const h = res.json?.headers ?? {};
    expect(h['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('shop.example.com');
    expect(h['x-forwarded-port']).toBe(String(port));
    expect(h.host).toBe('shop.example.com');
  });

  it('drops hop-by-hop headers and those Connection names, and passes a POST body', async () => {
    // prepare
    const port = await cluster();

    // act
    const res = await get(
      port,
      '/api/x',
      { host: 'shop.example.com', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', 'x-kept': '2' },
      'POST',
      'hello body',
    );

    // assess
    const h = res.json?.headers ?? {};
    expect(h['x-secret-hop']).toBeUndefined();
    expect(h['x-kept']).toBe('2');
    expect(res.json?.body).toBe('hello body');
  });

  it('skips an endpoint that refuses the connection, before the client sees an error', async () => {
    // prepare
    const good = await backend('good');
    const dead = await refusedPort();
    const ing = await start(
      { rules: [{ ingress: 'default/a', path: '/', pathType: 'Prefix', backend: ref('web') }], defaults: [], tls: [] },
      [route('web', [{ port: 80, endpoints: [dead, good] }])],
    );
    const port = ing.boundPort('http') as number;

    // act
    const answers = await Promise.all([1, 2, 3, 4].map(() => get(port, '/')));

    // assess
    expect(answers.map((a) => a.json?.name)).toEqual(['good', 'good', 'good', 'good']);
  });

  it('sends a GET on to the next endpoint when one accepts and closes without answering, but not a POST', async () => {
    // prepare: what Docker's userland proxy does for a container that is gone
    const hole = createTcpServer((sock) => sock.destroy());
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => hole.close(() => r())));
    const holePort = (hole.address() as { port: number }).port;
    const good = await backend('good');
    const ing = await start(
      { rules: [{ ingress: 'default/a', path: '/', pathType: 'Prefix', backend: ref('web') }], defaults: [], tls: [] },
      [route('web', [{ port: 80, endpoints: [holePort, good] }])],
    );
    const port = ing.boundPort('http') as number;

    // act
    const gets = await Promise.all([1, 2, 3, 4].map(() => get(port, '/')));
    const posts = await Promise.all([1, 2].map(() => get(port, '/', {}, 'POST', 'x')));

    // assess: every GET answered by the good one; a POST through the hole is a 502, never sent twice
    expect(gets.map((g) => g.json?.name)).toEqual(['good', 'good', 'good', 'good']);
    expect(posts.map((p) => p.status).sort()).toEqual([200, 502]);
  });

  it('answers 502 when every endpoint refuses', async () => {
    // prepare
    const ing = await start(
      { rules: [{ ingress: 'default/a', path: '/', pathType: 'Prefix', backend: ref('web') }], defaults: [], tls: [] },
      [route('web', [{ port: 80, endpoints: [await refusedPort(), await refusedPort()] }])],
    );

    // act
    const res = await get(ing.boundPort('http') as number, '/');

    // assess
    expect(res.status).toBe(502);
  });

  it('passes a WebSocket upgrade through, then bytes both ways', async () => {
    // prepare
    const port = await cluster();

    // act
    upgradesEnded = 0;
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        path: '/api/ws',
        headers: { host: 'shop.example.com', connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('upgrade', (res, socket) => {
        expect(res.statusCode).toBe(101);
        socket.once('data', (d) => {
          resolve(String(d));
          socket.destroy();
        });
        socket.write('ping');
      });
      req.on('error', reject);
      req.end();
    });

    // assess: the echo came back, and the client leaving ended the backend's side too
    expect(echoed).toBe('api:ping');
    for (let i = 0; i < 40 && upgradesEnded === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(upgradesEnded).toBe(1);
  });

  it('survives hostile requests: a huge Host, a bad request line, a header flood', async () => {
    // prepare
    const port = await cluster();

    // act
    const huge = await get(port, '/', { host: 'a'.repeat(10_000) }).catch(() => ({ status: -1 }));
    const raw = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('GET /\x00 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n'));
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    const flood = await get(port, '/', { host: 'shop.example.com', 'x-big': 'b'.repeat(20_000) }).catch(() => ({
      status: -1,
    }));
    const after = await get(port, '/', { host: 'shop.example.com' });

    // assess: refused or 404, never forwarded; and the server still serves
    expect([404, -1, 431]).toContain(huge.status);
    expect(raw).not.toContain('"name"');
    expect([431, -1]).toContain(flood.status);
    expect(after.json?.name).toBe('web');
  });
});

describe('the built-in ingress serving HTTPS by SNI', () => {
  let a: { cert: string; key: string };
  let wild: { cert: string; key: string };
  let fallback: { cert: string; key: string };

  beforeAll(() => {
    a = selfSigned(['a.example.com']);
    wild = selfSigned(['*.example.com']);
    fallback = selfSigned(['default.test']);
  });

  it('picks the exact host first, then a one-label wildcard, then the entry without hosts', () => {
    // prepare
    const certs: IngressCert[] = [
      { ingress: 'default/w', hosts: ['*.example.com'], ...wild },
      { ingress: 'default/a', hosts: ['a.example.com'], ...a },
      { ingress: 'default/d', hosts: [], ...fallback },
    ];

    // act / assess
    expect(certFor(certs, 'a.example.com')?.ingress).toBe('default/a');
    expect(certFor(certs, 'A.Example.com')?.ingress).toBe('default/a');
    expect(certFor(certs, 'b.example.com')?.ingress).toBe('default/w');
    expect(certFor(certs, 'x.b.example.com')?.ingress).toBe('default/d');
    expect(certFor(certs, undefined)?.ingress).toBe('default/d');
    expect(certFor(certs.slice(0, 2), 'other.test')).toBeUndefined();
  });

  it('serves each host with its certificate, forwards with X-Forwarded-Proto https, and refuses an unknown name', async () => {
    // prepare
    const port80 = await backend('secure');
    const ing = await start(
      {
        rules: [{ ingress: 'default/a', path: '/', pathType: 'Prefix', backend: ref('web') }],
        defaults: [],
        tls: [
          { ingress: 'default/a', hosts: ['a.example.com'], ...a },
          { ingress: 'default/w', hosts: ['*.example.com'], ...wild },
          { ingress: 'default/bad', hosts: ['bad.example.com'], cert: 'not a pem', key: 'nope' },
        ],
      },
      [route('web', [{ port: 80, endpoints: [port80] }])],
    );
    const port = ing.boundPort('https') as number;
    const tlsGet = (name: string, ca: string) =>
      new Promise<{ cn: string; json: { headers: IncomingHttpHeaders } }>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port, servername: name, ca, headers: { host: name }, path: '/' },
          (res) => {
            const cn = String(
              (res.socket as unknown as { getPeerCertificate(): { subject: { CN: string } } }).getPeerCertificate()
                .subject.CN,
            );
            let text = '';
            res.on('data', (c) => {
              text += c;
            });
            res.on('end', () => resolve({ cn, json: JSON.parse(text) }));
          },
        );
        req.on('error', reject);
        req.end();
      });

    // act
    const exact = await tlsGet('a.example.com', a.cert);
    const wildcard = await tlsGet('b.example.com', wild.cert);
    const unknown = await tlsGet('other.test', a.cert).catch((err: Error) => err);

    // assess
    expect(exact.cn).toBe('a.example.com');
    expect(exact.json.headers['x-forwarded-proto']).toBe('https');
    expect(wildcard.cn).toBe('*.example.com');
    expect(unknown).toBeInstanceOf(Error);
  });
});
