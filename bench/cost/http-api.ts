/**
 * The API function's two front doors, as AWS runs them: the HTTP API (API Gateway, each request
 * billed) and the function URL (no charge beyond Lambda's), each on a port of its own. Each HTTP
 * request becomes one payload-2.0 event shaped as its door sends it, handed to an idle container
 * of the one function (a new one when all are busy: Lambda runs one request per container at a
 * time, and a container sees only its own store's writes). Every invocation is timed, so GB-s
 * come from measured durations, rounded up to the millisecond as Lambda bills them.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type LambdaFunction = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

export interface InvocationStats {
  invocations: number;
  /** Of those, the requests that came through the HTTP API (the rest: the function URL). */
  httpApiRequests: number;
  /** Sum of billed milliseconds (each invocation rounded up to 1 ms). */
  billedMs: number;
  byRoute: Record<string, { requests: number; billedMs: number }>;
}

export function emptyInvocations(): InvocationStats {
  return { invocations: 0, httpApiRequests: 0, billedMs: 0, byRoute: {} };
}

export function diffInvocations(a: InvocationStats, b: InvocationStats): InvocationStats {
  const out: InvocationStats = {
    invocations: a.invocations - b.invocations,
    httpApiRequests: a.httpApiRequests - b.httpApiRequests,
    billedMs: a.billedMs - b.billedMs,
    byRoute: {},
  };
  for (const [k, r] of Object.entries(a.byRoute)) {
    const o = b.byRoute[k];
    const d = { requests: r.requests - (o?.requests ?? 0), billedMs: r.billedMs - (o?.billedMs ?? 0) };
    if (d.requests > 0) out.byRoute[k] = d;
  }
  return out;
}

type Door = 'http-api' | 'function-url';

export class HttpApi {
  readonly stats: InvocationStats = emptyInvocations();
  /** Containers created (cold starts) and the most busy at once (the function's concurrency). */
  containers = 0;
  peakConcurrency = 0;
  private busy = 0;
  private readonly idle: LambdaFunction[] = [];
  private readonly servers: Server[] = [];
  /** The HTTP API's address. */
  url = '';
  /** The function URL's address (startFunctionUrl). */
  functionUrl = '';

  constructor(private readonly newContainer: () => LambdaFunction) {}

  async start(): Promise<string> {
    this.url = await this.listen('http-api');
    return this.url;
  }

  async startFunctionUrl(): Promise<string> {
    this.functionUrl = await this.listen('function-url');
    return this.functionUrl;
  }

  private async listen(door: Door): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.invoke(door, req, Buffer.concat(chunks))
          .then((out) => {
            const headers = { ...(out.headers ?? {}) } as Record<string, string>;
            const body =
              out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body, out.isBase64Encoded ? 'base64' : 'utf8');
            headers['content-length'] = String(body.length);
            res.writeHead(out.statusCode ?? 200, headers);
            res.end(body);
          })
          .catch((err: unknown) => {
            // API Gateway answers 500 when the function throws (a function URL: 502).
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ message: `Internal Server Error: ${String(err)}` }));
          });
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Waits (at most `limitMs`) for the invocations under way: a held call outlives its caller. */
  async drain(limitMs = 15_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (this.busy > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }

  async close(): Promise<void> {
    for (const server of this.servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    }
  }

  private async invoke(door: Door, req: IncomingMessage, body: Buffer): Promise<APIGatewayProxyStructuredResultV2> {
    const event = payloadEvent(door, req, body);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const fn = this.idle.pop() ?? this.coldStart();
    this.busy++;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.busy);
    const started = performance.now();
    try {
      return await fn(event, {});
    } finally {
      const billed = Math.max(1, Math.ceil(performance.now() - started));
      this.busy--;
      this.idle.push(fn);
      this.stats.invocations++;
      if (door === 'http-api') this.stats.httpApiRequests++;
      this.stats.billedMs += billed;
      const route = routeOf(req.method ?? 'GET', url.pathname);
      this.stats.byRoute[route] ??= { requests: 0, billedMs: 0 };
      const r = this.stats.byRoute[route];
      r.requests++;
      r.billedMs += billed;
    }
  }

  private coldStart(): LambdaFunction {
    this.containers++;
    return this.newContainer();
  }
}

/**
 * The payload-2.0 event each door sends: both put cookies in `cookies`; a function URL's
 * requestContext names its domain and the account `anonymous` (AuthType NONE), an HTTP API's its
 * API id and stage. Bodies arrive base64-encoded (what a binary-safe front door sends).
 */
function payloadEvent(door: Door, req: IncomingMessage, body: Buffer) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'cookie') headers[k] = v;
  const cookies = req.headers.cookie?.split(/;\s*/).filter(Boolean);
  const domain = door === 'function-url' ? 'bench.lambda-url.local.on.aws' : 'bench.execute-api.local.amazonaws.com';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies?.length ? { cookies } : {}),
    headers,
    requestContext: {
      accountId: door === 'function-url' ? 'anonymous' : '000000000000',
      apiId: 'bench',
      domainName: domain,
      domainPrefix: 'bench',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: 'bench',
      routeKey: '$default',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: true,
    ...(body.length > 0 ? { body: body.toString('base64') } : {}),
  };
}

/** "POST /agent/v1/sync"; object paths collapse to their collection. */
function routeOf(method: string, path: string): string {
  if (path.startsWith('/agent/')) return `${method} ${path}`;
  return `${method} ${path
    .replace(/\/namespaces\/[^/]+/, '/namespaces/*')
    .split('/')
    .slice(0, 6)
    .join('/')}`;
}
