/**
 * The agent's side of held syncs that stream beats (agent/beat-call.ts, agent/beat-policy.ts):
 * against a server that takes them the sync is held on one request and answered whole; against an
 * old server or a proxy that buffers request bodies (no answer head until the body ends) and one
 * that answers without the honoured header it fails with BeatsUnhonouredError, after which the
 * agent holds plain syncs for a while; a refusal is read as the refusal it is; a wake in the stream
 * gets the held sync answered at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentApiClient, ApiRequestError, BeatsUnhonouredError } from '../../../agent/api-client';
import { BEATS_RETRY_MS, BeatPolicy } from '../../../agent/beat-policy';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import { issueToken } from '../../../functions/tokens';

const STATUS = {
  capacity: { cpu: '4', memory: '8Gi', pods: '110' },
  allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
  addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
  conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }],
};
const OFFER = { everySeconds: 1, holdSeconds: 20 };

let plane: LocalControlPlane | undefined;
let dir: string | undefined;
let server: Server | undefined;

afterEach(async () => {
  await plane?.close();
  plane = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** A server that answers `answer` once the whole body is in, as an old server or a buffering proxy does. */
async function wholeBodyServer(
  answer: (body: string) => { status: number; headers?: Record<string, string>; body: string },
) {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const a = answer(body);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A real local control plane with node n1 registered and its first (plain) sync made. */
async function joinedNode() {
  dir = await mkdtemp(join(tmpdir(), 'ferry-beat-call-'));
  plane = await startLocalControlPlane({ dataDir: dir, port: 0, log: silentLogger });
  const bootstrap = (await issueToken(plane.deps, { role: 'bootstrap', ttlSeconds: 600 })).token;
  const client = new AgentApiClient(plane.url, bootstrap);
  const reg = await client.register({ nodeName: 'n1', labels: {}, status: STATUS } as never);
  client.setToken(reg.token);
  const first = await client.sync({ nodeStatus: STATUS } as never);
  return { client, first };
}

describe('the agent streaming beats on a held sync', () => {
  it('is held on one request by a server that takes beats, and gets the whole answer with the Lease renewed meanwhile', async () => {
    // prepare
    const { client, first } = await joinedNode();

    // act: held 5 s (the lease's renewal bound is 3 s) on one request
    const started = Date.now();
    const res = await client.syncWithBeats(
      { waitSeconds: 5, versions: first.versions, leaseRenewedAt: first.leaseRenewedAt },
      OFFER,
    );

    // assess
    expect(first.beats).toEqual({ everySeconds: 2, holdSeconds: 20, wakes: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_500);
    expect(res.versions).toEqual(first.versions);
    expect(res.leaseRenewedAt).toBeGreaterThan(first.leaseRenewedAt + 2_000);
  }, 30_000);

  it('gets its held sync answered at once by a wake in the stream, where the server offers wakes', async () => {
    // prepare
    const { client, first } = await joinedNode();
    const wake = new AbortController();

    // act: held 20 s, woken after half a second
    const started = Date.now();
    setTimeout(() => wake.abort(), 500);
    const res = await client.syncWithBeats(
      { waitSeconds: 20, versions: first.versions, leaseRenewedAt: first.leaseRenewedAt },
      first.beats as typeof OFFER,
      undefined,
      wake.signal,
    );

    // assess
    expect(first.beats?.wakes).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.versions).toEqual(first.versions);
  }, 30_000);

  it('fails with BeatsUnhonouredError within seconds against a server that reads the whole body first', async () => {
    // prepare
    const url = await wholeBodyServer(() => ({ status: 200, body: '{}' }));
    const client = new AgentApiClient(url, 't');

    // act
    const started = Date.now();
    const err = await client.syncWithBeats({ waitSeconds: 20 }, OFFER).catch((e) => e);

    // assess
    expect(err).toBeInstanceOf(BeatsUnhonouredError);
    expect(Date.now() - started).toBeLessThan(6_000);
  }, 15_000);

  it('fails with BeatsUnhonouredError when a 200 comes without the honoured header', async () => {
    // prepare: answers at once, without reading the body
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"versions":{}}');
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const client = new AgentApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't');

    // act
    const err = await client.syncWithBeats({ waitSeconds: 20 }, OFFER).catch((e) => e);

    // assess
    expect(err).toBeInstanceOf(BeatsUnhonouredError);
  }, 15_000);

  it('reads a refusal as the refusal, not as beats unhonoured', async () => {
    // prepare
    server = createServer((_req, res) => {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end('{"message":"bad sync"}');
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const client = new AgentApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't');

    // act
    const err = await client.syncWithBeats({ waitSeconds: 20 }, OFFER).catch((e) => e);

    // assess
    expect(err).toBeInstanceOf(ApiRequestError);
    expect((err as ApiRequestError).status).toBe(422);
  }, 15_000);

  it('holds plain syncs after beats went unhonoured, and tries them again after a while', () => {
    // prepare
    const policy = new BeatPolicy();
    const warned: string[] = [];
    const log = { ...silentLogger, warn: (msg: string) => warned.push(msg) };
    policy.offered({ everySeconds: 2, holdSeconds: 20 });
    const before = policy.holdSeconds(5, 0);

    // act
    policy.refused(1_000, log as never, new Error('no head'));

    // assess
    expect(before).toBe(20);
    expect(policy.holdSeconds(5, 2_000)).toBe(5);
    expect(policy.use(5, 2_000)).toBeUndefined();
    expect(policy.use(5, 1_000 + BEATS_RETRY_MS)).toEqual({ everySeconds: 2, holdSeconds: 20 });
    expect(policy.use(0, 1_000 + BEATS_RETRY_MS)).toBeUndefined();
    expect(warned).toHaveLength(1);
    policy.offered(undefined);
    expect(policy.holdSeconds(5, 1_000 + BEATS_RETRY_MS)).toBe(5);
  });
});
