/**
 * The scale bench's light simulator drives `ferry server`'s control plane (SQLite, scheduler and
 * controllers in process, real HTTP) to the same state as the real agent loop on the in-memory
 * runtime (bench/lib/agents.ts): the same nodes Ready with the same capacity and address, the same
 * pods Running and Ready with the same status shape, the same Service endpoints, and after a
 * scale down the same pods gone. So the bench's figures from the light simulator measure the
 * server the real agents would load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFleet } from '../../bench/lib/agents';
import { AdminClient } from '../../bench/lib/workload';
import { startLightFleet } from '../../bench/scale/light-fleet';
import { silentLogger } from '../../functions/log';
import { startLocalControlPlane } from '../../functions/runtime/local';

const NODES = 3;
const APPS = 2;
const REPLICAS = 6;

type Item = Record<string, unknown> & {
  metadata: { name: string; deletionTimestamp?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

const ready = (o: Item) =>
  ((o.status?.conditions ?? []) as { type: string; status: string }[]).find((c) => c.type === 'Ready')?.status ===
  'True';

/** What the cluster looks like to a user, without names and times that differ from run to run. */
async function state(admin: AdminClient) {
  const nodes = (await admin.call<{ items: Item[] }>('GET', '/api/v1/nodes')).items;
  const pods = (await admin.call<{ items: Item[] }>('GET', '/api/v1/pods')).items;
  const endpoints = (await admin.call<{ items: Item[] }>('GET', '/api/v1/namespaces/default/endpoints')).items;
  return {
    nodes: nodes
      .map((n) => ({
        name: n.metadata.name,
        ready: ready(n),
        capacity: (n.status?.capacity as Record<string, string> | undefined)?.cpu,
        address: (n.status?.addresses as { type: string; address: string }[] | undefined)?.[0],
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    pods: pods
      .map((p) => ({
        bound: Boolean(p.spec?.nodeName),
        terminating: Boolean(p.metadata.deletionTimestamp),
        phase: p.status?.phase,
        ready: ready(p),
        conditions: ((p.status?.conditions ?? []) as { type: string; status: string }[]).map(
          (c) => `${c.type}=${c.status}`,
        ),
        containers: ((p.status?.containerStatuses ?? []) as Record<string, unknown>[]).map((c) => ({
          name: c.name,
          image: c.image,
          ready: c.ready,
          state: Object.keys(c.state as object),
        })),
        statusKeys: Object.keys(p.status ?? {}).sort(),
      }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    endpoints: endpoints
      .filter((e) => e.metadata.name.startsWith('app-'))
      .map((e) => ({
        name: e.metadata.name,
        ready: ((e.subsets ?? []) as { addresses?: unknown[] }[]).reduce((n, s) => n + (s.addresses?.length ?? 0), 0),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs the workload against a fresh control plane with one kind of simulated node, and returns what it reached. */
async function drive(kind: 'light' | 'real') {
  const dir = mkdtempSync(join(tmpdir(), `ferry-sim-${kind}-`));
  const plane = await startLocalControlPlane({ dataDir: join(dir, 'data'), port: 0, log: silentLogger });
  let fleet: { stop(): Promise<void> } | undefined;
  try {
    const admin = new AdminClient(plane.url, plane.adminToken as string);
    const bootstrapToken = await admin.bootstrapToken();
    const options = { apiUrl: plane.url, bootstrapToken, count: NODES, prefix: 'node', record: true };
    fleet =
      kind === 'light'
        ? startLightFleet({ ...options, startMs: 10 })
        : await startFleet({ ...options, root: join(dir, 'agents') });
    await admin.applyApps(APPS, 1, REPLICAS);
    const running = async (n: number) => {
      const s = await state(admin);
      return (
        s.nodes.length === NODES &&
        s.nodes.every((x) => x.ready) &&
        s.pods.length === n &&
        s.pods.every((p) => p.phase === 'Running' && p.ready)
      );
    };
    await until(`${kind}: every node Ready and every pod Running`, () => running(APPS * REPLICAS));
    await until(`${kind}: every endpoint ready`, async () =>
      (await state(admin)).endpoints.every((e) => e.ready === REPLICAS),
    );
    const started = await state(admin);
    await admin.call(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/app-0000',
      { spec: { replicas: 2 } },
      'application/merge-patch+json',
    );
    await until(`${kind}: the scaled-down pods gone`, () => running(REPLICAS + 2));
    await until(`${kind}: endpoints after the scale down`, async () =>
      (await state(admin)).endpoints.some((e) => e.ready === 2),
    );
    return { started, scaledDown: await state(admin) };
  } finally {
    await fleet?.stop();
    await plane.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('light simulator against the real agent loop', () => {
  it('drives the control plane to the same nodes, pods and endpoints, through a scale down', async () => {
    // act
    const light = await drive('light');
    const real = await drive('real');

    // assess
    expect(light.started).toEqual(real.started);
    expect(light.scaledDown).toEqual(real.scaledDown);
    expect(light.started.pods).toHaveLength(APPS * REPLICAS);
    expect(light.scaledDown.endpoints).toEqual([
      { name: 'app-0000', ready: 2 },
      { name: 'app-0001', ready: REPLICAS },
    ]);
  }, 300_000);
});
