/**
 * Liveness on the local runtime is the agent calling again, not its connection staying open: a
 * node whose agent holds a sync open and then stops (a hung process keeps its socket) goes
 * NotReady when its Lease is not renewed, while a node that keeps syncing stays Ready.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import type { Node } from '../../../schemas';
import { NODE_STATUS, postJson, registerNode } from './held-helpers';

const GRACE_MS = 6_000;

let plane: LocalControlPlane | undefined;
let dir: string | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets) s.destroy();
  await plane?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ready = async (p: LocalControlPlane, name: string) => {
  const node = await p.store.get<Node>({ kind: 'Node', name });
  return node?.status?.conditions?.find((c) => c.type === 'Ready');
};

describe('held syncs and liveness on the local runtime', () => {
  it('marks a node NotReady whose agent keeps a held sync open but never calls again, and keeps a syncing node Ready', async () => {
    // prepare
    dir = await mkdtemp(join(tmpdir(), 'ferry-liveness-'));
    plane = await startLocalControlPlane({
      dataDir: dir,
      port: 0,
      log: silentLogger,
      nodeGracePeriodMs: GRACE_MS,
      podEvictionDelayMs: 600_000,
    });
    const p = plane;
    const hungToken = await registerNode(p, 'hung');
    const liveToken = await registerNode(p, 'live');
    await postJson(`${p.url}/agent/v1/sync`, hungToken, { nodeStatus: NODE_STATUS });
    let live = await postJson(`${p.url}/agent/v1/sync`, liveToken, { nodeStatus: NODE_STATUS });

    // act: the hung agent's last sync is held open, and its socket stays open after the answer
    const url = new URL(`${p.url}/agent/v1/sync`);
    const body = JSON.stringify({ waitSeconds: 5, versions: {} });
    const socket = connect(Number(url.port), url.hostname);
    sockets.push(socket);
    socket.on('data', () => undefined); // read nothing back into the agent; keep the socket
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${hungToken}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const started = Date.now();
    let hung = await ready(p, 'hung');
    while (Date.now() - started < GRACE_MS + 6_000 && hung?.status === 'True') {
      live = await postJson(`${p.url}/agent/v1/sync`, liveToken, {
        waitSeconds: 1,
        versions: live.versions,
        leaseRenewedAt: live.leaseRenewedAt,
      });
      hung = await ready(p, 'hung');
    }

    // assess
    expect(hung?.status).toBe('Unknown');
    // The Lease's expiry found it: its connection never dropped.
    expect(hung?.reason).not.toBe('AgentDisconnected');
    expect(socket.destroyed).toBe(false);
    expect((await ready(p, 'live'))?.status).toBe('True');
  }, 30_000);
});
