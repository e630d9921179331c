/**
 * The HTTP API in front of the API function, as API Gateway runs it: each HTTP request becomes
 * one HTTP API v2 event, handed to an idle container of the function (a new one when all are
 * busy: Lambda runs one request per container at a time, and a container sees only its own
 * store's writes). Every invocation is timed, so GB-s come from measured durations, rounded up to
 * the millisecond as Lambda bills them.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type LambdaFunction = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

export interface InvocationStats {
  invocations: number;
  /** Sum of billed milliseconds (each invocation rounded up to 1 ms). */
  billedMs: number;
  byRoute: Record<string, { requests: number; billedMs: number }>;
}

export function emptyInvocations(): InvocationStats {
  return { invocations: 0, billedMs: 0, byRoute: {} };
}

export function diffInvocations(a: InvocationStats, b: InvocationStats): InvocationStats {
  const out: InvocationStats = {
    invocations: a.invocations - b.invocations,
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

export class HttpApi {
  readonly stats: InvocationStats = emptyInvocations();
  /** Containers created (cold starts) and the most busy at once (the function's concurrency). */
  containers = 0;
  peakConcurrency = 0;
  private busy = 0;
  private readonly idle: LambdaFunction[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly newContainer: () => LambdaFunction) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.invoke(req, Buffer.concat(chunks))
          .then((out) => {
            const headers = { ...(out.headers ?? {}) } as Record<string, string>;
            const body =
              out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body, out.isBase64Encoded ? 'base64' : 'utf8');
            headers['content-length'] = String(body.length);
            res.writeHead(out.statusCode ?? 200, headers);
            res.end(body);
          })
          .catch((err: unknown) => {
            // API Gateway answers 500 when the function throws.
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ message: `Internal Server Error: ${String(err)}` }));
          });
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Waits (at most `limitMs`) for the invocations under way: a held call outlives its caller. */
  async drain(limitMs = 15_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (this.busy > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(() => r(undefined)));
  }

  private async invoke(req: IncomingMessage, body: Buffer): Promise<APIGatewayProxyStructuredResultV2> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: url.pathname,
      rawQueryString: url.search.replace(/^\?/, ''),
      headers,
      requestContext: {
        http: {
          method: req.method ?? 'GET',
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        timeEpoch: Date.now(),
      },
      isBase64Encoded: true,
      ...(body.length > 0 ? { body: body.toString('base64') } : {}),
    };
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

/** "POST /agent/v1/sync"; object paths collapse to their collection. */
function routeOf(method: string, path: string): string {
  if (path.startsWith('/agent/')) return `${method} ${path}`;
  return `${method} ${path
    .replace(/\/namespaces\/[^/]+/, '/namespaces/*')
    .split('/')
    .slice(0, 6)
    .join('/')}`;
}
