/**
 * The controller manager: runs a declared list of controllers over one snapshot of the cluster per
 * pass (snapshot.ts: each kind listed once, with owner-uid and node-name indexes, kept current
 * with the pass's own writes), behind a store lease so only one manager acts on a store at a time.
 *
 * Order (declared.ts): service-accounts -> deployment (ReplicaSets) -> replicaset (pods) ->
 * statefulset (pods and claims) -> daemonset (pods) -> cronjob -> job -> scheduler (binds) ->
 * volumes (claims bound, provisioned, protected, reclaimed) -> node-lifecycle (failures) ->
 * disruption (budgets) -> endpoints (where Services send traffic) -> load-balancer -> ingress (the
 * built-in ingress' table and load balancer) -> gc (orphans); the rounds repeat over the same
 * snapshot while they still write (bounded), so one trigger carries a new Deployment all the way
 * to bound pods without rereading. service-accounts, ingress and kubernetes-service run only when
 * a write of a kind they act on happened (due.ts), on the full resync and on taking the lease.
 * Then node-port-repair and nodepool (machines, when configured) once per pass: it calls clouds.
 *
 * Triggers (triggers.ts, the one list): writes that matter, debounced — not Events, bookkeeping,
 * heartbeats, or Node status writes that change nothing a controller acts on; a periodic full
 * resync (10 s locally); and a cheap scheduled check (every second locally; on Lambda each minute
 * and on each batch of the lease stream) that reads the marker record and judges the node Leases
 * by the renewals it saw written (heartbeats.ts; it lists them only until it has) and runs a full pass
 * when time-driven work is due or a node's heartbeat went stale or came back.
 *
 * Leadership: the lease is written for `leaseTtlMs - retryMs`, the leader renews it every third
 * of that (also during a long pass), and a standby tries every `retryMs` (1 s), so a standby takes
 * over within `leaseTtlMs` (15 s) of the leader's death. (An outside audit measured 20 s: the
 * standby used to try only every 5 s, on top of a lease renewed to a full 15 s.)
 */
import { randomUUID } from 'node:crypto';
import { HPA_KIND, type Lease, type Node } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import type { Deps } from '../deps';
import { trackNodeDesired } from '../node-desired';
import type { ChangeEvent, Obj } from '../store/types';
import { type Controller, createBudget, type PassContext, yieldSlice } from './controller';
import { declaredControllers } from './declared';
import { DueControllers } from './due';
import { HeartbeatTable } from './heartbeats';
import { newHpaState } from './hpa';
import { ListCache, withCachedLists } from './list-cache';
import type { ControllerManagerOptions } from './manager-options';
import { type MarkerSpec, passReason, readMarker, writeMarker } from './marker';
import {
  DEFAULT_NODE_LIFECYCLE,
  NODE_LEASE_NAMESPACE,
  type NodeLifecycleOptions,
  newNodeLifecycleState,
  noteLag,
} from './node-lifecycle';
import { refreshOverdue } from './overdue';
import { ClusterSnapshot } from './snapshot';
import { IGNORED_KINDS, nodeFingerprint, triggersPass } from './triggers';

export type { ControllerManagerOptions } from './manager-options';
export { IGNORED_KINDS } from './triggers';

/** The longest wait between back-to-back passes (the pass's own duration, up to this). */
const MAX_BREATHER_MS = 2_000;

export interface ControllerManager {
  /** One full pass (repeated while it writes), the triggered controllers (due.ts) too; ignores the lease. */
  runOnce(): Promise<void>;
  /**
   * Takes or renews the lease and, if this manager holds it, runs one full pass: what one
   * Lambda stream invocation does (the local runtime's start() does it on every trigger). True if it ran.
   */
  runLeased(): Promise<boolean>;
  /**
   * The scheduled check: reads the marker and the node Leases only, and runs a leased full pass
   * if something is due (marker.ts). True if a pass ran. What a Lambda schedule event does.
   */
  runScheduled(): Promise<boolean>;
  /** Writes not seen through the store's watch (Lambda's stream): whose controllers act on them run next (due.ts). */
  noteWrites(kinds: Iterable<string>): void;
  /**
   * A node Lease written (or deleted) that this manager did not see through its store's watch:
   * the Lambda runtime passes the lease stream's records here, so the checks that follow judge
   * liveness from these instead of listing every Lease (heartbeats.ts).
   */
  noteHeartbeat(lease: Lease, deleted?: boolean): void;
  /** True when the last scheduled check had a node whose failure it must notice (one not NotReady). */
  watchesNodes(): boolean;
  start(): void;
  stop(): Promise<void>;
  /** Whether this manager held the lease at its last attempt. */
  isLeader(): boolean;
}

/**
 * The lease's timing for a documented TTL: a standby tries every `retryMs`, the lease is written
 * for `writtenTtlMs` so that a dead leader's lease lapses and a standby's next try lands within
 * the TTL, and the leader renews every `renewMs` (a third of the written TTL, as Kubernetes'
 * leader election renews well inside its lease duration).
 */
export function leaseTiming(leaseTtlMs: number): { retryMs: number; writtenTtlMs: number; renewMs: number } {
  const retryMs = Math.min(1_000, Math.floor(leaseTtlMs / 5));
  const writtenTtlMs = leaseTtlMs - retryMs;
  return { retryMs, writtenTtlMs, renewMs: Math.floor(writtenTtlMs / 3) };
}

const printKey = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export function createControllerManager(deps: Deps, options: ControllerManagerOptions = {}): ControllerManager {
  const resyncMs = options.resyncMs ?? 10_000;
  const debounceMs = options.debounceMs ?? 20;
  const { retryMs, writtenTtlMs, renewMs } = leaseTiming(options.leaseTtlMs ?? 15_000);
  const expectedIntervalMs = options.expectedIntervalMs ?? retryMs;
  const fullResyncMs = options.fullResyncMs ?? 3_600_000;
  const lifecycle: NodeLifecycleOptions = {
    ...options.eviction,
    gracePeriodMs: options.nodeGracePeriodMs ?? DEFAULT_NODE_LIFECYCLE.gracePeriodMs,
    evictionDelayMs: options.podEvictionDelayMs ?? DEFAULT_NODE_LIFECYCLE.evictionDelayMs,
  };
  const lifecycleState = newNodeLifecycleState();
  const controllers = declaredControllers(lifecycle, lifecycleState, options, newHpaState());
  const due = new DueControllers(controllers);
  const holder = randomUUID();
  let leader = false;
  let renewedAt = 0;
  let lastLook: number | undefined;
  let marker: MarkerSpec | undefined;
  /** The marker the last scheduled check judged by. */
  let checked: MarkerSpec | undefined;
  /**
   * Node and HPA (triggers.ts) `kind/namespace/name` -> fingerprint as the last pass left it: a
   * watch event that changes none is no trigger. Keyed by kind too: an HPA named like a Node must
   * not be judged by the Node's fingerprint.
   */
  let prints = new Map<string, string>();
  /** The node Leases' renewals as last listed or seen written: what the check judges liveness by. */
  const heartbeats = new HeartbeatTable();
  let running: Promise<void> | undefined;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;
  let resync: NodeJS.Timeout | undefined;
  let tick: NodeJS.Timeout | undefined;
  let unwatch: (() => void) | undefined;
  let stopped = false;
  /**
   * This manager's own writes, by `kind/namespace/name@resourceVersion` (deletes: `-kind/ns/name`).
   * Their watch events start no pass: the rounds already followed them up, and a controller with
   * more to do asks through wakeAt. Without this, every pass that wrote was followed by one more
   * full pass, and a capped controller (500 creates) would run back to back instead of at the
   * check's pace.
   */
  const ownWrites = new Set<string>();
  let pending: ChangeEvent[] = [];
  const writeKey = (obj: Obj, deleted: boolean) =>
    `${deleted ? '-' : ''}${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}${deleted ? '' : `@${obj.metadata.resourceVersion}`}`;
  const noteOwnWrite = (obj: Obj, deleted: boolean) => {
    if (!IGNORED_KINDS.has(obj.kind)) ownWrites.add(writeKey(obj, deleted));
  };
  /** True for a watch event caused by this manager's own write (each matches once). */
  const isOwn = (ev: ChangeEvent) => ownWrites.delete(writeKey(ev.object, ev.type === 'DELETED'));

  /** Notes how late this look at the cluster is; node-lifecycle extends its grace by it. */
  function look(): void {
    const now = deps.clock();
    const late = lastLook === undefined ? 0 : now - lastLook - expectedIntervalMs;
    noteLag(lifecycleState, Math.max(late, options.lagProbe?.() ?? 0), now, lifecycle);
    lastLook = now;
  }

  // Every controller write moves the NodeDesired records it concerns (agents' syncs read those).
  const tracked = trackNodeDesired(deps.store, deps.clock);
  let lists: ListCache | undefined;

  async function pass(): Promise<void> {
    look();
    const startedAt = deps.clock();
    if (ownWrites.size > 10_000) ownWrites.clear();
    await lists?.verify();
    const snapshot = new ClusterSnapshot(
      lists ? withCachedLists(tracked, lists) : tracked,
      (obj, deleted) => {
        noteOwnWrite(obj, deleted);
        due.wrote(obj.kind);
      },
      deps.clock,
    );
    let wakeAt: number | null = null;
    const ctx: PassContext = {
      deps: { ...deps, store: snapshot.store },
      snapshot,
      wakeAt: (at) => {
        due.woke();
        wakeAt = wakeAt === null ? at : Math.min(wakeAt, at);
      },
      takeCreates: createBudget(),
    };
    const step = (c: Controller) =>
      due.run(c, async () => {
        await yieldSlice();
        const started = performance.now();
        let failed = false;
        try {
          await c.run(ctx);
        } catch (err) {
          failed = true;
          deps.log.error('controller pass failed', { controller: c.name, error: String((err as Error).stack ?? err) });
          ctx.wakeAt(deps.clock() + resyncMs);
        }
        deps.metrics?.controllerRun(c.name, (performance.now() - started) / 1000, failed);
      });
    await due.pass(async () => {
      const maxRounds = options.maxRounds ?? 8;
      for (let round = 0; round < maxRounds; round++) {
        const before = snapshot.writes;
        for (const c of controllers) if (!c.oncePerPass) await step(c);
        if (snapshot.writes === before) break;
        // Still writing after the last round: the next check (a second away) goes on.
        if (round === maxRounds - 1) ctx.wakeAt(deps.clock());
      }
      const beforeOnce = snapshot.writes;
      for (const c of controllers) if (c.oncePerPass) await step(c);
      // Their writes (a node pool's new or removed Node) are for the rounds of the next pass.
      if (snapshot.writes > beforeOnce) ctx.wakeAt(deps.clock());
    });
    await remember(snapshot, startedAt, wakeAt);
    // node-lifecycle listed them at the start of the pass: the snapshot has them, no read here.
    heartbeats.seed(await snapshot.list<Lease>('Lease'), startedAt);
  }

  /** Keeps what the next check and the watch filter need, and stores the marker when it changed. */
  async function remember(snapshot: ClusterSnapshot, passAt: number, wakeAt: number | null): Promise<void> {
    const nodes = await snapshot.list<Node>('Node');
    // The HPA controller listed them in this pass: the snapshot has them, no read here.
    const hpas = await snapshot.list<Obj>(HPA_KIND);
    prints = new Map([...nodes, ...hpas].map((o) => [printKey(o), nodeFingerprint(o as Node)]));
    const unknownNodes = nodes
      .filter((n) => findCondition(n, 'Ready')?.status === 'Unknown')
      .map((n) => n.metadata.name);
    const next: MarkerSpec = { passAt, wakeAt, nodes: nodes.length, unknownNodes };
    const previous = marker;
    marker = next;
    checked = next;
    // passAt alone moving is not worth a write, except to keep the full resync honest.
    if (
      previous &&
      previous.wakeAt === next.wakeAt &&
      previous.nodes === next.nodes &&
      previous.unknownNodes.join() === next.unknownNodes.join() &&
      passAt - previous.passAt < fullResyncMs
    ) {
      marker = { ...next, passAt: previous.passAt };
      return;
    }
    await writeMarker(deps.store, next).catch((err) =>
      deps.log.warn('writing the controllers marker failed', { error: String(err) }),
    );
  }

  async function renew(): Promise<boolean> {
    const was = leader;
    leader = await deps.store.acquireLease('controller-manager', holder, writtenTtlMs).catch(() => false);
    if (leader) renewedAt = deps.clock();
    // A new leader has not seen heartbeats yet: it gives every node a grace period from now.
    if (leader && !was) {
      due.all(); // nor has it seen the writes made while it did not lead
      lifecycle.observingSince = deps.clock();
      marker = undefined;
      lastLook = undefined; // time spent not leading is not lag: observingSince covers it
    }
    return leader;
  }

  async function leadAndPass(): Promise<boolean> {
    if (await renew()) await pass();
    return leader;
  }

  /** Why a full pass is needed now, from the marker (stored, unless this manager keeps it) and the Leases. */
  async function checkReason(fromStore: boolean): Promise<string | undefined> {
    look();
    const known = fromStore ? await readMarker(deps.store) : marker;
    checked = known;
    let now = deps.clock();
    let renewals: ReadonlyMap<string, number> | undefined;
    if (known && known.nodes > 0) {
      if (heartbeats.live) {
        // Renewals reach the table late (the lease stream): overdue ones are read, a grace about
        // to run out is waited for (overdue.ts).
        if (options.overdueAfterMs !== undefined) {
          await refreshOverdue(deps.store, heartbeats, new Set(known.unknownNodes), deps.clock, {
            overdueAfterMs: options.overdueAfterMs,
            graceMs: lifecycle.gracePeriodMs,
            sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
          });
          now = deps.clock();
        }
        renewals = heartbeats.renewals;
      } else {
        const leases = (await deps.store.list<Lease>('Lease', { namespace: NODE_LEASE_NAMESPACE })).items;
        renewals = new Map(leases.map((l) => [l.metadata.name, Date.parse(l.spec?.renewTime ?? '') || 0]));
      }
    }
    const grace = lifecycle.gracePeriodMs + (lifecycleState.lagUntil > now ? lifecycleState.lagMs : 0);
    return passReason(known, renewals, now, grace, fullResyncMs);
  }

  function trigger(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        const started = Date.now();
        await leadAndPass();
        // Triggered again while it ran (a busy cluster writes all the time): wait as long as the
        // pass took before the next, so passes take at most half the process and the agents'
        // syncs the other half, and the next pass takes in everything written meanwhile at once.
        const took = Date.now() - started;
        if (again && !stopped && took > debounceMs)
          await new Promise((r) => setTimeout(r, Math.min(took, MAX_BREATHER_MS)));
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  }

  async function onTick(): Promise<void> {
    if (stopped) return;
    // Renew even while a long pass runs, so the lease never lapses under a working leader.
    if (leader && deps.clock() - renewedAt >= renewMs) {
      await renew();
      return;
    }
    if (running) return;
    if (!leader) return trigger();
    const reason = await checkReason(false).catch(() => 'check failed');
    if (reason) trigger();
  }

  return {
    runOnce: () => {
      due.all();
      return pass();
    },
    runLeased: leadAndPass,
    async runScheduled() {
      const reason = await checkReason(true);
      if (!reason) return false;
      deps.log.debug('scheduled controllers pass', { reason });
      // The hourly full resync (marker.ts) is the triggered controllers' safety pass too.
      if (reason === 'full resync' || reason === 'no marker yet') due.all();
      return leadAndPass();
    },
    isLeader: () => leader,
    noteWrites: (kinds) => {
      for (const kind of kinds) due.written(kind);
    },
    noteHeartbeat: (lease, deleted = false) => heartbeats.note(lease, deleted),
    watchesNodes: () => checked !== undefined && checked.nodes > checked.unknownNodes.length,
    start() {
      stopped = false;
      if (options.listCache) lists ??= new ListCache(deps.store);
      unwatch = deps.store.watch((ev) => {
        if (ev.object.kind === 'Lease') heartbeats.note(ev.object as Lease, ev.type === 'DELETED');
        if (!triggersPass(ev.type, ev.object, prints.get(printKey(ev.object)))) return;
        pending.push(ev);
        clearTimeout(debounce);
        // Decided after the debounce, when the pass's own writes have all been noted.
        debounce = setTimeout(() => {
          const foreign = pending.filter((e) => !isOwn(e));
          pending = [];
          for (const e of foreign) due.written(e.object.kind);
          if (foreign.length > 0) trigger();
        }, debounceMs);
      });
      // The periodic full resync: the triggered controllers run in it too (their safety pass).
      resync = setInterval(() => {
        due.all();
        trigger();
      }, resyncMs);
      let ticking = false;
      tick = setInterval(() => {
        if (ticking) return; // a slow check or renewal is still under way
        ticking = true;
        void onTick().finally(() => {
          ticking = false;
        });
      }, retryMs);
      trigger();
    },
    async stop() {
      stopped = true;
      unwatch?.();
      clearTimeout(debounce);
      clearInterval(resync);
      clearInterval(tick);
      await running;
      lists?.stop();
      lists = undefined;
      if (leader) await deps.store.releaseLease('controller-manager', holder).catch(() => undefined);
    },
  };
}
