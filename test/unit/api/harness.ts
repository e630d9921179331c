/**
 * Drives the API core in-process: a MemoryStore (or any StateStore), a fixed clock, the handler,
 * an admin token, and helpers to send requests and to snapshot everything the store holds.
 */

import { createApiHandler, ensureAdminToken, ensureDefaults } from '../../../functions/api';
import { type ApiConfig, type ApiDeps, type ApiResponse, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { type LogFields, silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import { type IssueOptions, issueToken } from '../../../functions/tokens';
import { kinds } from '../../../schemas';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

export interface SendOptions {
  body?: unknown;
  /** Raw bytes or text sent as-is (no JSON encoding). */
  raw?: string | Uint8Array;
  contentType?: string;
  token?: string | null;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

export interface Sent extends ApiResponse {
  json: Record<string, unknown> & {
    items?: Record<string, unknown>[];
    metadata?: Record<string, unknown>;
    message?: string;
    details?: { causes?: { field?: string; message: string; reason: string }[] };
  };
}

export interface TestApi {
  store: StateStore;
  deps: ApiDeps;
  admin: string;
  now: { ms: number };
  logs: { msg: string; fields?: LogFields }[];
  send(method: string, path: string, options?: SendOptions): Promise<Sent>;
  token(options: IssueOptions): Promise<string>;
  /** Every object of every kind (tokens included) plus the store revision, as one JSON string. */
  snapshot(): Promise<string>;
}

export async function startApi(
  store: StateStore = new MemoryStore(() => T0),
  config: Partial<ApiConfig> = {},
): Promise<TestApi> {
  const now = { ms: T0 };
  const logs: { msg: string; fields?: LogFields }[] = [];
  const log = {
    ...silentLogger,
    error: (msg: string, fields?: LogFields) => logs.push({ msg, fields }),
    child: () => log,
  };
  const deps: ApiDeps = {
    store,
    clock: () => now.ms,
    log,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: '0.1.0-test', ...config },
  };
  await ensureDefaults(deps);
  const admin = await ensureAdminToken(deps);
  if (!admin) throw new Error('a fresh store must yield an admin token');
  const handler = createApiHandler(deps);

  const send = async (method: string, path: string, options: SendOptions = {}): Promise<Sent> => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? admin : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: Uint8Array | undefined;
    if (options.raw !== undefined) {
      body = typeof options.raw === 'string' ? new TextEncoder().encode(options.raw) : options.raw;
    } else if (options.body !== undefined) {
      body = new TextEncoder().encode(JSON.stringify(options.body));
    }
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const res = await handler({
      method,
      path,
      query: new URLSearchParams(options.query ?? {}),
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    let json: Sent['json'] = {};
    if (!res.stream && (res.headers['content-type'] ?? '').includes('json')) json = JSON.parse(res.body);
    return { ...res, json };
  };

  return {
    store,
    deps,
    admin,
    now,
    logs,
    send,
    token: async (options) => (await issueToken(deps, options)).token,
    snapshot: async () => {
      const all: Record<string, unknown> = {};
      let revision = '';
      for (const kind of [...kinds.map((k) => k.kind), 'Token', 'NodePortClaim', 'ClusterIPClaim', 'QuotaLedger']) {
        const list = await store.list(kind);
        all[kind] = list.items;
        revision = list.resourceVersion;
      }
      return JSON.stringify({ revision, all });
    },
  };
}

export function pod(
  name: string,
  extra: { namespace?: string; labels?: Record<string, string>; nodeName?: string } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: extra.namespace ?? 'default', ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      containers: [{ name: 'app', image: 'ferry.local/busybox:1' }],
      ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
    },
  };
}

export function deployment(name: string, replicas = 3, namespace = 'default') {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
      },
    },
  };
}

export function configMap(name: string, data: Record<string, string> = { a: '1' }, namespace = 'default') {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

export function secret(name: string, namespace = 'default') {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', data: { k: 'dg==' } };
}

export function node(name: string) {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { zone: 'a' } }, spec: {} };
}

export function namespace(name: string) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function service(
  name: string,
  ports: Record<string, unknown>[] = [{ port: 80, targetPort: 8080 }],
  extra: Record<string, unknown> = {},
  namespace = 'default',
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports, ...extra },
  };
}
