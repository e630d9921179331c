/**
 * A real local API server (node:http, the upgrade handler, a MemoryStore) for the exec/attach
 * WebSocket tests, with tokens for each role and a WebSocket client that reports a refused
 * handshake's status and Status body instead of throwing.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { createApiHandler, ensureAdminToken, ensureDefaults } from '../../../functions/api';
import { StreamSessions } from '../../../functions/api/exec-sessions';
import { type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../../../functions/api/types';
import { silentLogger } from '../../../functions/log';
import { LOG_REQUEST_KIND, trackNodeDesired } from '../../../functions/node-desired';
import { createUpgradeHandler } from '../../../functions/runtime/exec-upgrade';
import { type ApiServer, startApiServer } from '../../../functions/runtime/http-server';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { issueToken } from '../../../functions/tokens';
import type { StreamRequest } from '../../../schemas/agent-protocol';

export interface UpgradeApi {
  url: string;
  deps: ApiDeps & { streams: StreamSessions };
  tokens: { admin: string; reader: string; deployer: string; otherDeployer: string; n1: string; n2: string };
  /** The stream requests written for nodes so far. */
  requests(): Promise<(Obj & { spec: { nodeName: string; stream: StreamRequest } })[]>;
  close(): Promise<void>;
}

export async function startUpgradeApi(): Promise<UpgradeApi> {
  const store = trackNodeDesired(new MemoryStore(), Date.now);
  const deps = {
    store,
    clock: Date.now,
    log: silentLogger,
    config: { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, version: 'test', watch: true },
    streams: new StreamSessions(Date.now),
  };
  await ensureDefaults(deps);
  const admin = (await ensureAdminToken(deps)) as string;
  const upgrades = createUpgradeHandler(deps);
  const server: ApiServer = await startApiServer({
    handler: createApiHandler(deps),
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    log: silentLogger,
    upgrade: upgrades.handle,
  });
  const token = async (o: Parameters<typeof issueToken>[1]) => (await issueToken(deps, o)).token;
  const tokens = {
    admin,
    reader: await token({ role: 'reader' }),
    deployer: await token({ role: 'deployer', namespaces: ['default'] }),
    otherDeployer: await token({ role: 'deployer', namespaces: ['other'] }),
    n1: await token({ role: 'node', nodeName: 'n1' }),
    n2: await token({ role: 'node', nodeName: 'n2' }),
  };
  const web = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      nodeName: 'n1',
      containers: [
        { name: 'app', image: 'ferry.local/busybox:1' },
        { name: 'sidecar', image: 'ferry.local/busybox:1' },
      ],
    },
  };
  const res = await fetch(`${server.url}/api/v1/namespaces/default/pods`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(web),
  });
  if (res.status !== 201) throw new Error(`creating the pod: ${res.status} ${await res.text()}`);
  return {
    url: server.url,
    deps,
    tokens,
    requests: async () =>
      (await store.list(LOG_REQUEST_KIND)).items.filter((r) => (r.spec as { stream?: unknown }).stream) as never,
    async close() {
      upgrades.close();
      await server.close();
    },
  };
}

export type Dialed = { ws: WebSocket; protocol: string } | { status: number; message: string };

/** Opens a WebSocket to `path`; a refused handshake resolves to its status and Status message. */
export function dial(
  url: string,
  path: string,
  token: string,
  protocols: string[] = ['v5.channel.k8s.io'],
): Promise<Dialed> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}${path}`, protocols, {
      headers: { authorization: `Bearer ${token}` },
    });
    ws.once('open', () => resolve({ ws, protocol: ws.protocol }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, message: messageOf(body) }));
    });
    ws.once('error', reject);
  });
}

/** A raw upgrade request with any Upgrade header (SPDY/3.1 as kubectl's fallback sends it). */
export function rawUpgrade(
  url: string,
  path: string,
  token: string,
  upgrade: string,
): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, message: messageOf(body) }));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
}

function messageOf(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {
    return body;
  }
}

/** The next message `ws` receives, as [channel, text]. */
export function nextMessage(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => {
    ws.once('message', (data: Buffer) => resolve([data[0] as number, data.subarray(1).toString('utf8')]));
  });
}
