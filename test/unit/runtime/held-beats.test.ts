/**
 * Held syncs that stream beats (schemas/agent-beats.ts, functions/api/agent/beats.ts) on the real
 * local runtime, over raw sockets: one held request keeps its node Ready past the grace while it
 * beats; a node that stops beating but keeps its socket goes NotReady by its Lease; a dropped
 * connection is marked Unknown fast; garbage and floods cut the connection; a beat renews only the
 * Lease of the credential's own node; a wake in the stream answers the held sync at once, on its
 * connection, even when it comes before the sync holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { untracked } from '../../../functions/node-desired';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import type { Lease, Node } from '../../../schemas';
import { BEATS_HONOURED, SYNC_BEATS_HEADER } from '../../../schemas/agent-beats';
import { NODE_STATUS, postJson, registerNode } from './held-helpers';

const GRACE_MS = 6_000;

let plane: LocalControlPlane | undefined;
let dir: string | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await plane?.close();
  plane = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(): Promise<LocalControlPlane> {
  dir = await mkdtemp(join(tmpdir(), 'ferry-beats-'));
  plane = await startLocalControlPlane({
    dataDir: dir,
    port: 0,
    log: silentLogger,
    nodeGracePeriodMs: GRACE_MS,
    podEvictionDelayMs: 600_000,
  });
  return plane;
}

/** Registers the node and makes its first (plain) sync; returns its token and that answer. */
async function join_(
  p: LocalControlPlane,
  nodeName: string,
): Promise<{ token: string; first: Record<string, unknown> }> {
  const token = await registerNode(p, nodeName);
  const first = await postJson(`${p.url}/agent/v1/sync`, token, { nodeStatus: NODE_STATUS });
  return { token, first };
}

const chunk = (data: string) => `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;

/** A held sync whose chunked body is the request's JSON line (and `sameChunk` after it), then whatever `send` writes. */
function beatSync(p: LocalControlPlane, token: string, body: unknown, sameChunk = '') {
  const url = new URL(`${p.url}/agent/v1/sync`);
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  let answer = '';
  socket.on('data', (d) => {
    answer += d.toString('utf8');
  });
  socket.on('error', () => undefined);
  socket.write(
    `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${token}\r\n` +
      `content-type: application/json\r\ntransfer-encoding: chunked\r\n${SYNC_BEATS_HEADER}: 1\r\n\r\n` +
      chunk(`${JSON.stringify(body)}\n${sameChunk}`),
  );
  return {
    socket,
    answer: () => answer,
    send: (data: string) => {
      if (!socket.destroyed) socket.write(chunk(data));
    },
  };
}

const ready = async (p: LocalControlPlane, name: string) =>
  (await p.store.get<Node>({ kind: 'Node', name }))?.status?.conditions?.find((c) => c.type === 'Ready');

const renewedAt = async (p: LocalControlPlane, name: string) => {
  const lease = await p.store.get<Lease>({ kind: 'Lease', namespace: 'kube-node-lease', name });
  return Date.parse(lease?.spec?.renewTime ?? '');
};

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !(await check())) await sleep(100);
}

describe('held syncs that stream beats', () => {
  it('offers beats, answers the head at once, and keeps a beating node Ready past its grace on one request', async () => {
    // prepare
    const p = await start();
    const { token, first } = await join_(p, 'beating');
    expect(first.beats).toEqual({ everySeconds: 2, holdSeconds: 20, wakes: true });

    // act: one held request for twice the grace, beating every second
    const sync = beatSync(p, token, {
      waitSeconds: 20,
      versions: first.versions,
      leaseRenewedAt: first.leaseRenewedAt,
    });
    await sleep(500);
    const head = sync.answer();
    const leaseBefore = await renewedAt(p, 'beating');
    for (let i = 0; i < (GRACE_MS * 2) / 1000; i++) {
      sync.send('.');
      await sleep(1_000);
    }

    // assess
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head.toLowerCase()).toContain(`${SYNC_BEATS_HEADER}: ${BEATS_HONOURED}`);
    expect(head).not.toContain('"versions"'); // the answer is still held
    expect((await ready(p, 'beating'))?.status).toBe('True');
    expect(await renewedAt(p, 'beating')).toBeGreaterThan(leaseBefore + 5_000);
    expect(sync.socket.destroyed).toBe(false);
  }, 30_000);

  it('marks a node NotReady by its Lease when its beats stop while its socket stays open', async () => {
    // prepare
    const p = await start();
    const { token, first } = await join_(p, 'silent');
    const sync = beatSync(p, token, {
      waitSeconds: 20,
      versions: first.versions,
      leaseRenewedAt: first.leaseRenewedAt,
    });
    sync.send('.');

    // act: no more beats; the connection stays up
    const stopped = Date.now();
    await until(async () => (await ready(p, 'silent'))?.status !== 'True', GRACE_MS + 6_000);

    // assess
    const cond = await ready(p, 'silent');
    expect(cond?.status).toBe('Unknown');
    expect(cond?.reason).not.toBe('AgentDisconnected');
    expect(Date.now() - stopped).toBeLessThan(GRACE_MS + 5_000);
    expect(sync.socket.destroyed).toBe(false);
  }, 30_000);

  it('marks a node Unknown within seconds when its beating held sync is dropped', async () => {
    // prepare
    const p = await start();
    const { token, first } = await join_(p, 'dropped');
    const sync = beatSync(p, token, {
      waitSeconds: 20,
      versions: first.versions,
      leaseRenewedAt: first.leaseRenewedAt,
    });
    sync.send('.');
    await sleep(500);

    // act
    sync.socket.destroy();
    const cut = Date.now();
    await until(async () => (await ready(p, 'dropped'))?.status !== 'True', GRACE_MS);

    // assess
    expect((await ready(p, 'dropped'))?.reason).toBe('AgentDisconnected');
    expect(Date.now() - cut).toBeLessThan(GRACE_MS - 1_000);
  }, 30_000);

  it('cuts the connection of a beat stream that sends garbage, and one that floods, and stops renewing their Leases', async () => {
    // prepare
    const p = await start();
    const a = await join_(p, 'garbage');
    const b = await join_(p, 'flood');
    const garbage = beatSync(p, a.token, { waitSeconds: 20, versions: a.first.versions });
    const flood = beatSync(p, b.token, { waitSeconds: 20, versions: b.first.versions });
    await sleep(300);

    // act
    garbage.send('{"nodeName":"other"}');
    flood.send('.'.repeat(4_096));
    await until(async () => garbage.socket.destroyed && flood.socket.destroyed, 3_000);
    const cutAt = Date.now();
    await sleep(4_500);

    // assess
    expect(garbage.socket.destroyed).toBe(true);
    expect(flood.socket.destroyed).toBe(true);
    expect(await renewedAt(p, 'garbage')).toBeLessThan(cutAt);
    expect(await renewedAt(p, 'flood')).toBeLessThan(cutAt);
  }, 30_000);

  it("renews only the Lease of the node whose credential the beats come with, not another node's", async () => {
    // prepare
    const p = await start();
    const mine = await join_(p, 'mine');
    await join_(p, 'other');
    const otherBefore = await renewedAt(p, 'other');

    // act: a beating sync of "mine" whose JSON names nothing else (a sync has no node field)
    const sync = beatSync(p, mine.token, { waitSeconds: 20, versions: mine.first.versions });
    for (let i = 0; i < 6; i++) {
      sync.send('.');
      await sleep(1_000);
    }

    // assess
    expect(await renewedAt(p, 'mine')).toBeGreaterThan(otherBefore + 3_000);
    expect(await renewedAt(p, 'other')).toBe(otherBefore);
  }, 30_000);

  it("renews beating nodes' Leases together in one batch, and a node's next beat sync writes no renewal of its own", async () => {
    // prepare: count the Lease writes that reach the store under the API
    const p = await start();
    const inner = untracked(p.deps.store);
    const batches: number[] = [];
    let single = 0;
    const writeBatch = inner.writeBatch.bind(inner);
    inner.writeBatch = async (ops) => {
      const leases = ops.filter((o) => o.object.kind === 'Lease').length;
      if (leases) batches.push(leases);
      return writeBatch(ops);
    };
    const renew = inner.renewLeaseObject?.bind(inner);
    inner.renewLeaseObject = async (ref, renewal) => {
      single++;
      return (renew as NonNullable<typeof renew>)(ref, renewal);
    };
    const joined = await Promise.all(['b1', 'b2', 'b3'].map((n) => join_(p, n)));
    const syncs = joined.map(({ token, first }) =>
      beatSync(p, token, { waitSeconds: 20, versions: first.versions, leaseRenewedAt: first.leaseRenewedAt }),
    );

    // act: 8 s of beats
    for (let i = 0; i < 8; i++) {
      for (const sync of syncs) sync.send('.');
      await sleep(1_000);
    }
    const singleWhileBeating = single;
    // b1's held sync answered (a wake), and its next beat sync echoing the renewal it was given
    await postJson(`${p.url}/agent/v1/wake`, joined[0]?.token as string, {});
    await until(async () => /\{"versions".*\}/.test(syncs[0]?.answer() ?? ''), 3_000);
    const answered = JSON.parse(/\{"versions".*\}/.exec(syncs[0]?.answer() ?? '')?.[0] ?? '{}');
    syncs[0]?.send('');
    const next = beatSync(p, joined[0]?.token as string, {
      waitSeconds: 20,
      versions: answered.versions,
      leaseRenewedAt: answered.leaseRenewedAt,
    });
    next.send('.');
    await sleep(1_500);

    // assess
    expect(answered.leaseRenewedAt).toBeGreaterThan(joined[0]?.first.leaseRenewedAt as number);
    expect(single).toBe(singleWhileBeating);
    expect(Math.max(...batches)).toBeGreaterThanOrEqual(2);
    // The first beat sync of each node renews once on its own (the table then holds its Lease); after that only batches.
    expect(singleWhileBeating).toBeLessThanOrEqual(3);
    for (const name of ['b1', 'b2', 'b3']) expect(await renewedAt(p, name)).toBeGreaterThan(Date.now() - 4_000);
  }, 30_000);

  it('refuses a beat-streamed sync whose first line is no SyncRequest, writing nothing', async () => {
    // prepare
    const p = await start();
    const { token } = await join_(p, 'bad');
    const before = await renewedAt(p, 'bad');

    // act
    const sync = beatSync(p, token, { waitSeconds: 'forever' });
    await until(async () => sync.answer().length > 0, 3_000);

    // assess
    expect(sync.answer()).toMatch(/^HTTP\/1\.1 422/);
    expect(await renewedAt(p, 'bad')).toBe(before);
  }, 30_000);

  it('answers a held sync at once when its stream sends a wake, on the same connection, the Lease kept', async () => {
    // prepare
    const p = await start();
    const { token, first } = await join_(p, 'woken');
    const sync = beatSync(p, token, {
      waitSeconds: 20,
      versions: first.versions,
      leaseRenewedAt: first.leaseRenewedAt,
    });
    await until(async () => /^HTTP\/1\.1 200/.test(sync.answer()), 3_000);
    sync.send('.');
    await sleep(300);
    expect(sync.answer()).not.toContain('"versions"'); // held

    // act
    const wokenAt = Date.now();
    sync.send('!');
    await until(async () => sync.answer().includes('"versions"'), 3_000);

    // assess: answered well inside the 20 s hold, and the socket still open for the next request
    expect(Date.now() - wokenAt).toBeLessThan(2_000);
    expect(sync.answer()).toContain('"leaseRenewedAt"');
    expect(sync.socket.destroyed).toBe(false);
    expect((await ready(p, 'woken'))?.status).toBe('True');
  }, 30_000);

  it('answers at once a beat sync whose wake came with its first line, before it could hold', async () => {
    // prepare
    const p = await start();
    const { token, first } = await join_(p, 'early');

    // act: the wake in the same chunk as the request's line
    const sentAt = Date.now();
    const sync = beatSync(
      p,
      token,
      { waitSeconds: 20, versions: first.versions, leaseRenewedAt: first.leaseRenewedAt },
      '!',
    );
    await until(async () => sync.answer().includes('"versions"'), 5_000);

    // assess
    expect(sync.answer()).toContain('"versions"');
    expect(Date.now() - sentAt).toBeLessThan(3_000);
  }, 30_000);
});
