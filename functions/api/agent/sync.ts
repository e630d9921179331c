/**
 * `/agent/v1/sync`, platform-free: the node's heartbeat, its status report, and the answer of what
 * it must run, as a diff of what it holds.
 *
 * 1. Check the report (restriction.ts) and read the node's NodeDesired record (desired.ts).
 * 2. Renew the Lease if due (lease.ts), write the statuses and remove finished pods (status.ts).
 * 3. Compare the record's section versions with those the agent holds; held runtimes wait for the
 *    record to move while nothing did (modes.ts), polled ones answer at once with when to call again.
 * 4. Read only the sections that moved: the pods bound to the node (a diff against the versions of
 *    those the agent holds, when it names them: pods-diff.ts), their volumes (volumes.ts) and
 *    config (config.ts), the log requests, the routes changed since the agent's sequence
 *    (routes.ts), the ingress table when its hash moved (ingress.ts).
 *
 * A quiet sync with a fresh Lease is therefore one eventually consistent read of one small record.
 */
import type { SyncRequest, SyncResponse, SyncVersions } from '../../../schemas/agent-protocol';
import { bumpNodes, type NodeDesired, SECTIONS, type Section, untracked } from '../../node-desired';
import { storeUsage, USAGE_GRACE_MS, usageRecord, usageWanted } from '../../node-usage';
import type { Obj } from '../../store/types';
import { pendingLogRequests } from '../pod-logs';
import type { ApiDeps } from '../types';
import { BEATS_OFFER, type SyncBeats } from './beats';
import { quietSyncAfterMs } from './cadence';
import { podConfig } from './config';
import { noteAnswered, readDesired, reconnectSpreadSeconds, waitForDesired } from './desired';
import { suspectDisconnect } from './disconnect';
import { ingressMoved, readIngress } from './ingress';
import { heartbeat } from './lease';
import { HELD_SYNC, MAX_SYNC_WAIT_SECONDS } from './modes';
import { podsSection } from './pods-diff';
import { checkReports } from './restriction';
import { readRoutes } from './routes';
import { removePod, writeNodeStatus, writePodStatus } from './status';
import { syncAnswered, syncEnded, syncHeartbeat, syncStarted } from './sync-lag';
import { nodeVolumes } from './volumes';

/** Appended to a version answered while a list may still lag its change: it never matches, so the agent reads again. */
const SETTLING = '~';

export async function syncNode(
  deps: ApiDeps,
  nodeName: string,
  req: SyncRequest,
  signal?: AbortSignal,
  beats?: SyncBeats,
): Promise<SyncResponse> {
  syncStarted(deps.store, nodeName, deps.clock());
  try {
    return await answerSync(deps, nodeName, req, signal, beats);
  } finally {
    syncEnded(deps.store, nodeName);
  }
}

async function answerSync(
  deps: ApiDeps,
  nodeName: string,
  req: SyncRequest,
  signal: AbortSignal | undefined,
  beats: SyncBeats | undefined,
): Promise<SyncResponse> {
  const started = performance.now();
  const mode = deps.config.agentSync ?? HELD_SYNC;
  const reports = await checkReports(deps, nodeName, req);
  let desired = await readDesired(deps, nodeName);

  const renew = async (nextSyncMs: number) => {
    const at = await heartbeat(
      deps,
      nodeName,
      req.leaseRenewedAt,
      mode.leaseDurationSeconds,
      mode.renewAfterSeconds,
      nextSyncMs,
    );
    syncHeartbeat(deps.store, nodeName, deps.clock());
    return at;
  };
  // Held: renewed before the hold, so the held call is the heartbeat. Polled: at the end, once the
  // answer says when the agent calls next.
  // A beat-streamed sync whose Lease its beats already renew (beats.ts): no write of its own.
  const byBeats = beats?.holdsLease(req.leaseRenewedAt) ? req.leaseRenewedAt : undefined;
  if (byBeats !== undefined) syncHeartbeat(deps.store, nodeName, deps.clock());
  let leaseRenewedAt = mode.hold ? (byBeats ?? (await renew(0))) : (req.leaseRenewedAt ?? 0);
  beats?.renewed(leaseRenewedAt);
  if (req.nodeStatus) await writeNodeStatus(deps, nodeName, reports.node, req.nodeStatus);
  for (const { pod: ref, status } of req.podStatuses ?? []) {
    const pod = reports.pods.get(ref.uid);
    if (pod) await writePodStatus(deps, pod, ref, status);
  }
  let removed = false;
  for (const ref of req.terminated ?? []) {
    if (reports.pods.get(ref.uid)?.metadata.deletionTimestamp) {
      await removePod(deps, ref);
      removed = true;
    }
  }
  // Usage the control plane asked for (functions/node-usage.ts): the node's one record, overwritten.
  // Only while asked (or just after): a node cannot make writes nobody will read.
  if (req.usage && (desired.spec.usageUntil ?? 0) + USAGE_GRACE_MS > deps.clock())
    await storeUsage(untracked(deps.store), usageRecord(nodeName, req.usage, deps.clock()));
  // The removal moved this node's pods: answer with them gone rather than on the next sync.
  if (removed) desired = await readDesired(deps, nodeName);

  const held = req.versions ?? {};
  let moved = movedSections(desired, held);
  const reported = Boolean(req.podStatuses?.length || req.terminated?.length);
  // Beats prove the agent alive while held (beats.ts): such a sync is held longer.
  const waitMs = Math.min(req.waitSeconds ?? 0, beats ? beats.holdSeconds : MAX_SYNC_WAIT_SECONDS) * 1000;
  const holds = mode.hold && waitMs > 0 && moved.size === 0 && !reported && !ingressMoved(desired, held.ingress);
  if (holds) {
    signal?.addEventListener('abort', () => suspectDisconnect(deps, nodeName), { once: true });
    beats?.holding();
    // A hold that ended with no move (its time, or the agent cutting it) answers the record as read.
    if (await waitForDesired(deps, nodeName, waitMs, signal, held)) {
      desired = await readDesired(deps, nodeName);
      moved = movedSections(desired, held);
    }
  }

  const spread = mode.hold ? reconnectSpreadSeconds(deps) : undefined;
  const res: SyncResponse = {
    versions: { ...(held as Partial<SyncVersions>), ...pick(desired) } as SyncVersions,
    nodeStatusUpdateSeconds: mode.nodeStatusUpdateSeconds,
    leaseRenewedAt,
    // Many agents holding: they spread their reconnects should this server restart (desired.ts).
    ...(spread !== undefined ? { reconnectSpreadSeconds: spread } : {}),
    // Held runtimes offer beat-streamed holds (schemas/agent-beats.ts); polled ones hold nothing.
    ...(mode.hold ? { beats: BEATS_OFFER } : {}),
  };
  // The beats renewed the Lease while held: the agent echoes the latest renewal.
  if (beats) res.leaseRenewedAt = Math.max(leaseRenewedAt, beats.renewedAt() ?? 0);
  const usage = usageWanted(desired, deps.clock());
  if (usage) res.usage = usage;
  if (moved.has('pods') || moved.has('config')) {
    const pods = await podsOf(deps, nodeName);
    if (moved.has('pods')) {
      // A diff against the pods the agent holds, if it named them (pods-diff.ts).
      Object.assign(res, podsSection(pods, held.pods === undefined ? undefined : req.heldPods));
      res.volumes = await nodeVolumes(deps, nodeName, pods);
    }
    const config = await podConfig(deps, pods);
    res.configMaps = config.configMaps;
    res.secrets = config.secrets;
  }
  if (moved.has('logs')) res.logRequests = await pendingLogRequests(deps, nodeName);
  if (moved.has('routes')) {
    const routes = await readRoutes(deps, held.routes, desired.spec.routes);
    res.versions.routes = routes.seq;
    if (routes.diff) res.routes = routes.diff;
    // The index is ahead of this node's record (the fan-out has not reached it yet, or the record
    // is new): bring the record up, so the next quiet sync stays one read.
    if (Number(routes.seq) > Number(desired.spec.routes || '0')) {
      await bumpNodes(
        untracked(deps.store),
        deps.clock,
        new Map([[nodeName, new Set<Section>(['routes'])]]),
        routes.seq,
      );
    }
  }
  if (ingressMoved(desired, held.ingress)) {
    const ingress = await readIngress(deps, desired, held.ingress);
    res.versions.ingress = ingress.hash;
    if (ingress.table) res.ingress = ingress.table;
  }
  const now = deps.clock();
  // Lists by node may lag their change (DynamoDB's index): versions answered within the settle
  // time never match, so the agent reads those sections once more after it.
  if (mode.listSettleMs > 0 && now - (desired.spec.podsChangedAt ?? 0) < mode.listSettleMs) {
    if (res.pods || res.podsDiff) res.versions.pods += SETTLING;
    if (res.logRequests) res.versions.logs += SETTLING;
  }
  let callAgainMs = 0;
  if (!mode.hold) {
    const busy = moved.size > 0 || reported || now - desired.spec.changedAt < mode.busyForSeconds * 1000;
    const afterMs = busy ? mode.busySyncSeconds * 1000 : quietSyncAfterMs(nodeName, now, mode.quietSyncSeconds * 1000);
    res.syncAfterSeconds = afterMs / 1000;
    callAgainMs = afterMs;
    leaseRenewedAt = await renew(afterMs);
    res.leaseRenewedAt = leaseRenewedAt;
  }
  syncAnswered(deps.store, nodeName, deps.clock(), callAgainMs);
  const answered = moved.size > 0 || ingressMoved(desired, held.ingress);
  deps.metrics?.agentSync(holds, answered, (performance.now() - started) / 1000);
  // Held syncs' next wakes are coalesced from this answer on (desired.ts).
  if (mode.hold && answered) noteAnswered(deps, nodeName, deps.clock());
  return res;
}

function pick(desired: NodeDesired): Omit<SyncVersions, 'routes'> {
  return { pods: desired.spec.pods, config: desired.spec.config, logs: desired.spec.logs };
}

/** The sections whose version on record differs from the one the agent holds. */
function movedSections(desired: NodeDesired, held: Partial<SyncVersions>): Set<Section> {
  return new Set(
    SECTIONS.filter((s) => {
      const mine = held[s];
      if (mine === undefined) return true;
      // Route versions are index sequence numbers; a record not yet brought to one reads as 0.
      return s === 'routes' ? Number(desired.spec.routes || '0') !== Number(mine) : desired.spec[s] !== mine;
    }),
  );
}

/**
 * The node's pods, from the store's by-node index (eventually consistent on DynamoDB: the settle
 * time above covers it; SQLite and memory are consistent).
 */
async function podsOf(deps: ApiDeps, nodeName: string): Promise<Obj[]> {
  return (await deps.store.list('Pod', { nodeName })).items;
}
