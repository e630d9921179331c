/**
 * An agent whose first registration answer is lost (the Node written, the answer never back: a
 * timeout, a cut connection, a server too busy to answer in time) joins on its retry, with a
 * single-use bootstrap token, as a NodePool machine's: the retry carries the same registrationId,
 * so the server hands it the credential instead of refusing a registered node (api/register.ts).
 * Before, the node stayed locked out for good: at 5,000 nodes registering at once, 2,300 were.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent';
import { AgentApiClient } from '../../../agent/api-client';
import type { AgentConfig } from '../../../agent/config';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import { issueToken } from '../../../functions/tokens';
import type { Lease } from '../../../schemas';
import { quietPods } from './quiet-pods';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;

let plane: LocalControlPlane | undefined;
let proxy: Server | undefined;
let agent: Agent | undefined;
const dirs: string[] = [];

afterEach(async () => {
  agent?.stop();
  agent = undefined;
  proxy?.closeAllConnections();
  await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
  proxy = undefined;
  await plane?.close();
  plane = undefined;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Forwards to `target`; the first register's answer is dropped once the server has written the Node. */
async function lossyProxy(target: string): Promise<{ url: string; registers: string[] }> {
  const registers: string[] = [];
  const to = new URL(target);
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isRegister = req.url === '/agent/v1/register';
      if (isRegister) registers.push(body.toString('utf8'));
      const out = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          if (isRegister && registers.length === 1) {
            answer.resume();
            answer.on('end', () => res.socket?.destroy()); // written, and lost on the way back
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.socket?.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, registers };
}

const pods = quietPods;

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('an agent whose registration answer was lost', () => {
  it('joins on its retry with a single-use bootstrap token: one Node, one registrationId, a Lease', async () => {
    // prepare
    const dataDir = await mkdtemp(join(tmpdir(), 'ferry-register-retry-'));
    const stateDir = await mkdtemp(join(tmpdir(), 'ferry-register-agent-'));
    dirs.push(dataDir, stateDir);
    plane = await startLocalControlPlane({ dataDir, port: 0, log: silentLogger });
    const bootstrap = (await issueToken(plane.deps, { role: 'bootstrap', ttlSeconds: 600, nodeName: 'm1' })).token;
    const { url, registers } = await lossyProxy(plane.url);
    const config = {
      apiUrl: url,
      token: bootstrap,
      nodeName: 'm1',
      nodeIp: '127.0.1.1',
      syncWaitSeconds: 1,
      maxPods: 110,
      labels: {},
      stateDir,
    } as unknown as AgentConfig;

    // act
    agent = new Agent(config, new AgentApiClient(url, bootstrap), pods, log);
    void agent.run().catch(() => undefined);
    const leased = await until(
      async () =>
        (await plane?.store.get<Lease>({ kind: 'Lease', namespace: 'kube-node-lease', name: 'm1' })) !== undefined,
      15_000,
    );

    // assess
    expect(leased).toBe(true);
    expect(registers.length).toBe(2);
    const ids = registers.map((r) => (JSON.parse(r) as { registrationId?: string }).registrationId);
    expect(ids[0]).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    expect(ids[1]).toBe(ids[0]);
    expect((await plane.store.list('Node')).items.map((n) => n.metadata.name)).toEqual(['m1']);
  }, 30_000);
});
