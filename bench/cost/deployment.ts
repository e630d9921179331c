/**
 * What the cost model takes from serverless.yml, read from the file itself so the bench follows
 * the deployment: each function's memory and architecture, whether agents sync through the API
 * function's URL (the function has `url` and the controllers hand FERRY_AGENT_URL to machines)
 * or through the HTTP API, the controllers' schedule rate, its
 * DynamoDB stream triggers (the function's `stream` event and any EventSourceMapping under
 * resources that targets it: batch size, batch window, filter patterns), the table's stream view
 * type, and an evaluator for those filter patterns (the EventBridge-style subset Lambda event
 * filtering uses).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface FunctionShape {
  memoryMb: number;
  architecture: string;
  /** Lambda stops an invocation after this long (and bills it up to here). */
  timeoutSeconds: number;
}

export interface StreamTrigger {
  /** The mapping's name: `stream` for the function's event, else its resource name. */
  name: string;
  batchSize: number;
  batchWindowSeconds: number;
  filterPatterns: unknown[];
}

export interface Deployment {
  api: FunctionShape;
  controllers: FunctionShape;
  /** Agents sync through the API function's URL (no HTTP API request charge), not the HTTP API. */
  agentsViaFunctionUrl: boolean;
  /** Scheduled invocations of the controllers function per minute. */
  schedulePerMinute: number;
  /** The function's own `stream` event. */
  stream?: StreamTrigger;
  /** Every stream mapping that invokes the controllers function (the `stream` event first). */
  streams: StreamTrigger[];
  /** What a stream record carries: KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES. */
  streamViewType: string;
}

type Mapping = {
  Type?: string;
  Properties?: {
    FunctionName?: unknown;
    BatchSize?: number;
    MaximumBatchingWindowInSeconds?: number;
    FilterCriteria?: { Filters?: { Pattern: string }[] };
  };
};

type Fn = {
  memorySize?: number;
  architecture?: string;
  timeout?: number;
  url?: unknown;
  environment?: Record<string, unknown>;
  events?: Record<string, unknown>[];
};

export function readDeployment(root = join(import.meta.dirname, '..', '..')): Deployment {
  // CloudFormation tags (!Ref, !GetAtt) are not needed here: silence them.
  const doc = parse(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    provider: { memorySize?: number; architecture?: string; timeout?: number };
    functions: Record<string, Fn>;
    resources?: {
      Resources?: Record<string, Mapping & { Properties?: { StreamSpecification?: { StreamViewType?: string } } }>;
    };
  };
  const shape = (fn: Fn | undefined): FunctionShape => ({
    memoryMb: fn?.memorySize ?? doc.provider.memorySize ?? 1024,
    architecture: fn?.architecture ?? doc.provider.architecture ?? 'x86_64',
    timeoutSeconds: fn?.timeout ?? doc.provider.timeout ?? 6,
  });
  const controllers = doc.functions.controllers;
  let schedulePerMinute = 0;
  let stream: StreamTrigger | undefined;
  for (const ev of controllers?.events ?? []) {
    if (typeof ev.schedule === 'string') schedulePerMinute += perMinute(ev.schedule);
    const s = ev.stream as { type?: string; batchSize?: number; batchWindow?: number; filterPatterns?: unknown[] };
    if (s && typeof s === 'object' && s.type === 'dynamodb') {
      stream = {
        name: 'stream',
        batchSize: s.batchSize ?? 100,
        batchWindowSeconds: s.batchWindow ?? 0,
        filterPatterns: s.filterPatterns ?? [],
      };
    }
  }
  const resources = doc.resources?.Resources ?? {};
  const streams = stream ? [stream] : [];
  let streamViewType = 'KEYS_ONLY';
  for (const [name, r] of Object.entries(resources)) {
    const view = r.Properties?.StreamSpecification?.StreamViewType;
    if (view) streamViewType = view;
    // The framework names the controllers function's resource ControllersLambdaFunction.
    if (r.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    if (!JSON.stringify(r.Properties?.FunctionName ?? '').includes('ControllersLambdaFunction')) continue;
    streams.push({
      name,
      batchSize: r.Properties?.BatchSize ?? 100,
      batchWindowSeconds: r.Properties?.MaximumBatchingWindowInSeconds ?? 0,
      filterPatterns: (r.Properties?.FilterCriteria?.Filters ?? []).map((f) => JSON.parse(f.Pattern) as unknown),
    });
  }
  const api = doc.functions.api;
  return {
    api: shape(api),
    controllers: shape(controllers),
    agentsViaFunctionUrl: Boolean(api?.url) && controllers?.environment?.FERRY_AGENT_URL !== undefined,
    schedulePerMinute,
    ...(stream ? { stream } : {}),
    streams,
    streamViewType,
  };
}

/** `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`. */
function perMinute(expr: string): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expr.trim());
  if (!m) throw new Error(`cost bench: cannot read schedule ${JSON.stringify(expr)} (rate(...) only)`);
  const n = Number(m[1]);
  const unit = m[2] as string;
  const minutes = unit.startsWith('minute') ? n : unit.startsWith('hour') ? n * 60 : n * 1440;
  return 1 / minutes;
}

/** Whether a record passes the trigger's filters (no filters: every record; several: any of them). */
export function passesFilters(record: unknown, patterns: unknown[]): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => matches(record, p));
}

function matches(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((rule) => matchesRule(value, rule));
  if (pattern && typeof pattern === 'object') {
    if (!value || typeof value !== 'object') return false;
    return Object.entries(pattern).every(([k, p]) => matches((value as Record<string, unknown>)[k], p));
  }
  throw new Error(`cost bench: filter pattern leaf must be a list, got ${JSON.stringify(pattern)}`);
}

function matchesRule(value: unknown, rule: unknown): boolean {
  if (rule === null || typeof rule !== 'object') return value === rule;
  const [op, arg] = Object.entries(rule)[0] ?? [];
  switch (op) {
    case 'anything-but': {
      if (value === undefined) return false;
      const list = Array.isArray(arg) ? arg : [arg];
      if (list.length && typeof list[0] === 'object' && list[0] !== null && 'prefix' in list[0])
        return !String(value).startsWith(String((list[0] as { prefix: string }).prefix));
      return !list.includes(value);
    }
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(arg));
    case 'exists':
      return (value !== undefined) === arg;
    default:
      throw new Error(
        `cost bench: filter operator ${JSON.stringify(op)} is not modelled; add it to bench/cost/deployment.ts`,
      );
  }
}
