/**
 * `npm run bench -- hpa-usage`: what resource metrics cost the serverless control plane, counted
 * on the real sync handler in the polled (Lambda) mode: 10 nodes of 10 pods (10 Deployments of 10
 * replicas, 100m requested, 50m used), each node synced every 20 s by the protocol's own answer,
 * the controllers run once a minute (the schedule), with a fake clock over 10 minutes after a
 * 3-minute warm-up. The same run without HPAs is the baseline; the difference is what HPAs add.
 *
 * Writes are counted at the store by kind, with their size as JSON; DynamoDB units by its rules
 * (store/dynamodb.ts replaces an object with a strongly consistent GetItem and a PutItem: RRU
 * ceil(size / 4 KB), WRU ceil(max(before, after) / 1 KB)), priced at bench/cost/model.ts. Not a
 * measurement of Lambda time; the cost bench (`npm run bench -- cost`) measures a cluster
 * without HPAs end to end.
 */
import { UsageCollector } from '../agent/metrics/collector';
import { FakeRuntime } from '../agent/runtime/fake';
import { createApiHandler, ensureAdminToken, ensureDefaults } from '../functions/api';
import { POLLED_SYNC } from '../functions/api/agent/modes';
import type { ApiDeps } from '../functions/api/types';
import { createControllerManager } from '../functions/controllers/manager';
import { silentLogger } from '../functions/log';
import { MemoryStore } from '../functions/store/memory';
import type { Obj, StateStore } from '../functions/store/types';
import { issueToken } from '../functions/tokens';
import type { Pod } from '../schemas';
import type { SyncRequest, SyncResponse, UsageReport } from '../schemas/agent-protocol';
import { isoTime } from '../schemas/time';
import { MINUTES_PER_MONTH, PRICES } from './cost/model';
import { type Row, report } from './report';

const NODES = 10;
const DEPLOYMENTS = 10;
const REPLICAS = 10;
const WARMUP_MS = 180_000;
const WINDOW_MS = 600_000;

interface Written {
  kind: string;
  /** A get (its read units in `rru`), not a write. */
  read?: boolean;
  bytes: number;
  wru: number;
  rru: number;
}

/**
 * The store, counting every write with its DynamoDB units (replace = read + put) and every get
 * (a GetItem: ceil(size / 4 KB), half when eventually consistent; a miss still costs the minimum).
 */
function counted(inner: StateStore, log: Written[], on: { value: boolean }, reads: { rru: number }): StateStore {
  const sizes = new Map<string, number>();
  const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const note = (o: Obj, replaced: boolean) => {
    const bytes = JSON.stringify(o).length;
    const before = sizes.get(key(o)) ?? 0;
    sizes.set(key(o), bytes);
    if (on.value)
      log.push({
        kind: o.kind,
        bytes,
        wru: Math.ceil(Math.max(bytes, before) / 1024),
        rru: replaced ? Math.ceil(before / 4096) || 1 : 0,
      });
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'create' || prop === 'update')
        return async (o: Obj) => {
          const stored = (await (value as (o: Obj) => Promise<Obj>).call(target, o)) as Obj;
          note(stored, prop === 'update');
          return stored;
        };
      if (prop === 'get')
        return async (ref: Parameters<StateStore['get']>[0], options?: Parameters<StateStore['get']>[1]) => {
          const found = await target.get(ref, options);
          const units = Math.max(1, Math.ceil((found ? JSON.stringify(found).length : 0) / 4096));
          const rru = options?.consistent === false ? units / 2 : units;
          if (on.value) {
            log.push({ kind: ref.kind, read: true, bytes: 0, wru: 0, rru });
            reads.rru += rru;
          }
          return found;
        };
      if (prop === 'list')
        return async (kind: string, options?: object) => {
          const result = await target.list(kind, options);
          // A Query is billed by the bytes it returns: 1 RRU per 4 KB, strongly consistent.
          if (on.value) reads.rru += Math.max(1, Math.ceil(JSON.stringify(result.items).length / 4096));
          return result;
        };
      if (prop === 'writeBatch')
        return async (ops: { op: string; object: Obj }[]) => {
          const results = await target.writeBatch(ops as never);
          for (const r of results) if (r.ok) note(r.object, true);
          return results;
        };
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

async function scenario(
  withHpa: boolean,
): Promise<{ log: Written[]; syncs: number; usageBytes: number[]; passRru: number }> {
  const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
  const log: Written[] = [];
  const on = { value: false };
  const reads = { rru: 0 };
  const store = counted(new MemoryStore(() => clock.ms), log, on, reads);
  const deps: ApiDeps = {
    store,
    clock: () => clock.ms,
    log: silentLogger,
    config: { maxBodyBytes: 1 << 20, version: 'bench', agentSync: POLLED_SYNC },
  };
  await ensureDefaults(deps);
  const admin = (await ensureAdminToken(deps)) as string;
  const api = createApiHandler(deps);
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await api({
      method,
      path,
      query: new URLSearchParams(),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: new TextEncoder().encode(JSON.stringify(body)) } : {}),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`);
    return JSON.parse(res.body) as Record<string, unknown>;
  };
  const { token: bootstrap } = await issueToken(deps, { role: 'bootstrap', ttlSeconds: 600, maxUses: NODES });
  const status = {
    capacity: { cpu: '16', memory: '32Gi', pods: '110' },
    allocatable: { cpu: '16', memory: '32Gi', pods: '110' },
    addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: isoTime(clock.ms) }],
  };
  const nodes: {
    name: string;
    token: string;
    runtime: FakeRuntime;
    collector: UsageCollector;
    nextAt: number;
    last?: SyncResponse;
  }[] = [];
  for (let i = 0; i < NODES; i++) {
    const name = `node-${i}`;
    const reg = await call('POST', '/agent/v1/register', bootstrap, { nodeName: name, status });
    const runtime = new FakeRuntime(() => clock.ms);
    const extra = { ms: 0 };
    const collector = new UsageCollector(runtime, {
      sharedMachine: true,
      now: () => clock.ms + extra.ms,
      sleep: async (ms) => {
        extra.ms += ms;
      },
    });
    nodes.push({ name, token: String(reg.token), runtime, collector, nextAt: clock.ms + (i * 20_000) / NODES });
  }
  for (let d = 0; d < DEPLOYMENTS; d++) {
    await call('POST', '/apis/apps/v1/namespaces/default/deployments', admin, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `app-${d}` },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: `app-${d}` } },
        template: {
          metadata: { labels: { app: `app-${d}` } },
          spec: { containers: [{ name: 'app', image: 'busybox', resources: { requests: { cpu: '100m' } } }] },
        },
      },
    });
    if (withHpa)
      await call('POST', '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', admin, {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: `app-${d}` },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `app-${d}` },
          minReplicas: REPLICAS,
          maxReplicas: REPLICAS * 2,
          metrics: [
            { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
          ],
        },
      });
  }
  const manager = createControllerManager(deps, { expectedIntervalMs: 60_000 });
  for (let i = 0; i < 5; i++) await manager.runOnce();
  // Every pod Running and Ready, its container using 50m (half its request: no rescale).
  for (const pod of (await store.list<Pod>('Pod')).items) {
    const node = nodes.find((n) => n.name === pod.spec.nodeName);
    if (!node) continue;
    const identity = { uid: pod.metadata.uid as string, name: pod.metadata.name, namespace: 'default' };
    const sandbox = await node.runtime.createSandbox(identity, { ports: [] });
    const id = await node.runtime.startContainer(identity, sandbox.id, {
      name: 'app',
      image: 'busybox',
      env: [],
      mounts: [],
      specHash: 'h',
      restartCount: 0,
      security: {},
    });
    node.runtime.setUsage(id, 0.05, 30 * 2 ** 20);
    const t = isoTime(clock.ms - 600_000);
    await store.update({
      ...pod,
      status: {
        phase: 'Running',
        startTime: t,
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: t }],
      },
    });
  }
  let syncs = 0;
  const usageBytes: number[] = [];
  const end = clock.ms + WARMUP_MS + WINDOW_MS;
  const measureFrom = clock.ms + WARMUP_MS;
  let nextPass = clock.ms;
  let passRru = 0;
  let passes = 0;
  while (clock.ms < end) {
    on.value = clock.ms >= measureFrom;
    for (const n of nodes) {
      if (clock.ms < n.nextAt) continue;
      const req: SyncRequest = {};
      if (n.last) {
        req.versions = n.last.versions as SyncRequest['versions'];
        req.leaseRenewedAt = n.last.leaseRenewedAt;
      }
      let usage: UsageReport | undefined;
      if (n.last?.usage) usage = await n.collector.report();
      if (usage) req.usage = usage;
      const res = (await call('POST', '/agent/v1/sync', n.token, req)) as unknown as SyncResponse;
      if (on.value) {
        syncs++;
        if (usage) usageBytes.push(JSON.stringify(usage).length);
      }
      // As the agent: a first ask is answered at once, then at the interval the server names.
      n.nextAt = clock.ms + (res.usage && !n.last?.usage ? 1_000 : (res.syncAfterSeconds ?? 20) * 1000);
      n.last = res;
    }
    if (clock.ms >= nextPass) {
      const before = reads.rru;
      await manager.runOnce();
      if (on.value) {
        passRru += reads.rru - before;
        passes++;
      }
      nextPass = clock.ms + 60_000;
    }
    clock.ms += 1_000;
  }
  return { log, syncs, usageBytes, passRru: passRru / Math.max(1, passes) };
}

const minutes = WINDOW_MS / 60_000;
const rows: Row[] = [];
const results = { without: await scenario(false), with: await scenario(true) };
const perNodeMinute = (n: number) => n / NODES / minutes;
const kinds = (log: Written[]) => [...new Set(log.map((w) => w.kind))].sort();
for (const [label, r] of [
  ['no HPA', results.without],
  ['10 HPAs (every pod targeted)', results.with],
] as const) {
  for (const kind of kinds(r.log)) {
    const of = r.log.filter((w) => w.kind === kind);
    const writes = of.filter((w) => !w.read);
    rows.push({
      cluster: label,
      kind,
      'writes/node/min': perNodeMinute(writes.length),
      'bytes/write': writes.length ? Math.round(writes.reduce((s, w) => s + w.bytes, 0) / writes.length) : 0,
      'gets/node/min': perNodeMinute(of.length - writes.length),
      'WRU/node/min': perNodeMinute(of.reduce((s, w) => s + w.wru, 0)),
      'RRU/node/min': perNodeMinute(of.reduce((s, w) => s + w.rru, 0)),
    });
  }
}
const units = (r: { log: Written[] }) => ({
  wru: r.log.reduce((s, w) => s + w.wru, 0) / minutes,
  rru: r.log.reduce((s, w) => s + w.rru, 0) / minutes,
});
const added = {
  wru: units(results.with).wru - units(results.without).wru,
  rru: units(results.with).rru - units(results.without).rru,
};
const monthly = (added.wru * PRICES.dynamoPerWru + added.rru * PRICES.dynamoPerRru) * MINUTES_PER_MONTH;
report('hpa-usage', rows, {
  nodes: NODES,
  pods: DEPLOYMENTS * REPLICAS,
  syncsPerNodeMinute: perNodeMinute(results.with.syncs),
  usageReportBytes: Math.round(
    results.with.usageBytes.reduce((s, b) => s + b, 0) / Math.max(1, results.with.usageBytes.length),
  ),
  addedWruPerNodeMinute: added.wru / NODES,
  addedRruPerNodeMinute: added.rru / NODES,
  addedDynamoUsdPerNodeMonth: monthly / NODES,
  baselineWritesPerNodeMinute: perNodeMinute(results.without.log.filter((w) => !w.read).length),
  // With HPAs the schedule runs a full pass each minute (their sync period); without, only when due.
  // Its reads: the lists (Query by bytes) and the HPA controller's gets (usage, asks).
  fullPassRru: results.with.passRru,
  fullPassUsdPerMonth: results.with.passRru * PRICES.dynamoPerRru * MINUTES_PER_MONTH,
});
