/**
 * One light simulated node's side of the agent protocol (schemas/agent-protocol.ts), without I/O:
 * what its next `/agent/v1/sync` body is, and what it takes from an answer. It follows the real
 * agent (agent/agent.ts) where the server can tell: the versions it holds (forgetting pods, config
 * and logs every FULL_RESYNC_MS), the `leaseRenewedAt` it echoes (forgotten after a failed or cut
 * sync), a full node status first and then every `nodeStatusUpdateSeconds`, a held call
 * (`waitSeconds` 5, the agent's default) only when there is nothing to report, `syncAfterSeconds`
 * between polls, every desired pod reported Running once its containers "started" (`startMs`
 * after it arrived), a terminating pod reported in `terminated`, everything resent after a failed
 * sync, and the versions of the pods it holds (`heldPods`) to a server that named them, taking
 * pods answered whole or as a diff. What it does not keep is the pod manager, the runtime, the
 * config and the routes themselves: only their versions. Bodies are built by string concatenation from parts kept as
 * JSON, so a quiet sync allocates one string.
 */
import { randomBytes } from 'node:crypto';
import { FULL_RESYNC_MS } from '../../agent/agent';
import { BeatPolicy } from '../../agent/beat-policy';
import type { AgentLogger } from '../../agent/log';
import type { SyncBeatsOffer } from '../../schemas/agent-beats';
import { MAX_HELD_PODS, type PodRef, type PodsDiff } from '../../schemas/agent-protocol';
import type { LightAnswer } from './light-answer';
import { lightNodeStatus, runningPodStatus } from './light-status';

/** The agent's default `--sync-wait` (agent/config.ts): how long it asks the server to hold a quiet sync. */
export const SYNC_WAIT_SECONDS = 5;

const QUIET: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface NextSync {
  body: string;
  waitSeconds: number;
  /** Stream beats on this held sync, as the agent does when the server offers them (agent/beat-policy.ts). */
  beats?: SyncBeatsOffer;
}

interface PodEntry {
  /** `{"pod":...,"status":...}` ready to send, once the pod's containers "started". */
  report: string;
  /** When its containers count as started (ms, the node's clock). */
  dueAt: number;
  reported: boolean;
  terminating: boolean;
  terminatedSent: boolean;
  ref: string;
  /** The version the server named for the pod (agent/held-pods.ts); undefined from a server that names none. */
  version: string | undefined;
}

export class LightNode {
  /** The node credential (from register). */
  token = '';
  /** As the agent's: every registration try sends it. */
  private readonly registrationId = randomBytes(16).toString('base64url');
  /** `{...}` of the versions held, as the last answer gave them; undefined holds nothing. */
  private versions: string | undefined;
  private routesAndIngress: { routes?: string; ingress?: string } = {};
  private lastFullAt = 0;
  private leaseRenewedAt: number | undefined;
  private statusDueAt = 0;
  private statusEveryMs = 300_000;
  /** Polled servers: the interval the last answer named. */
  syncAfterMs = 0;
  /** As the agent: over how long its first reconnect to a server that went away is spread. */
  reconnectSpreadMs = 0;
  private readonly pods = new Map<string, PodEntry>();
  /** As the agent: whether the server named a version for every pod held (it diffs). */
  private named = false;
  private heldJson: string | undefined;
  /** What the sync in flight carries, settled by answered() or failed(). */
  private inFlight: { uids: string[]; terminated: string[]; status: boolean } | undefined;
  private hostPort = 40000;
  private podSeq = 1;
  /** The agent's own policy on beat-streamed holds: offered by the last answer, refused for a while after one went unhonoured. */
  private readonly beatPolicy = new BeatPolicy();

  constructor(
    readonly name: string,
    readonly nodeIp: string,
    /** How long after a pod arrives its containers count as started (the pod manager's work). */
    private readonly startMs = 0,
  ) {}

  /** The register body: the node's name and full status. */
  registerBody(now: number): string {
    return JSON.stringify({
      nodeName: this.name,
      labels: {},
      status: lightNodeStatus(this.name, this.nodeIp, now),
      registrationId: this.registrationId,
    });
  }

  /** Milliseconds until a pod's start is due to be reported (Infinity when none waits): a held sync is cut then. */
  reportDueIn(now: number): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const p of this.pods.values())
      if (!p.reported && !p.terminating && p.dueAt > now) soonest = Math.min(soonest, p.dueAt - now);
    return soonest;
  }

  nextSync(now: number): NextSync {
    const statuses: string[] = [];
    const uids: string[] = [];
    const terminated: string[] = [];
    for (const [uid, p] of this.pods) {
      if (p.terminating) {
        if (!p.terminatedSent) terminated.push(uid);
      } else if (!p.reported && p.dueAt <= now) {
        statuses.push(p.report);
        uids.push(uid);
      }
    }
    const status = now >= this.statusDueAt;
    if (now - this.lastFullAt > FULL_RESYNC_MS) {
      // As the agent: pods, config and logs are asked for whole again; routes and ingress are kept.
      this.versions = Object.keys(this.routesAndIngress).length ? JSON.stringify(this.routesAndIngress) : undefined;
      this.lastFullAt = now;
    }
    const waitSeconds =
      statuses.length || terminated.length || status ? 0 : this.beatPolicy.holdSeconds(SYNC_WAIT_SECONDS, now);
    const beats = this.beatPolicy.use(waitSeconds, now);
    let body = `{"waitSeconds":${waitSeconds}`;
    if (status) body += `,"nodeStatus":${JSON.stringify(lightNodeStatus(this.name, this.nodeIp, now))}`;
    if (statuses.length) body += `,"podStatuses":[${statuses.join(',')}]`;
    if (terminated.length)
      body += `,"terminated":[${terminated.map((u) => (this.pods.get(u) as PodEntry).ref).join(',')}]`;
    if (this.versions !== undefined) body += `,"versions":${this.versions}`;
    // As the agent (agent/held-pods.ts): the pods held by version, while it holds the pods' version.
    const held = this.heldPods();
    if (held && this.versions?.includes('"pods":')) body += `,"heldPods":${held}`;
    if (this.leaseRenewedAt !== undefined) body += `,"leaseRenewedAt":${this.leaseRenewedAt}`;
    this.inFlight = { uids, terminated, status };
    return { body: `${body}}`, waitSeconds, ...(beats ? { beats } : {}) };
  }

  /** Takes in a 2xx answer to the sync last built. */
  answered(res: LightAnswer, now: number): void {
    const sent = this.inFlight;
    this.inFlight = undefined;
    if (sent) {
      for (const uid of sent.uids) {
        const p = this.pods.get(uid);
        if (p) p.reported = true;
      }
      for (const uid of sent.terminated) {
        const p = this.pods.get(uid);
        if (p) p.terminatedSent = true;
      }
    }
    this.leaseRenewedAt = res.leaseRenewedAt;
    this.beatPolicy.offered(res.beats);
    this.statusEveryMs = res.nodeStatusUpdateSeconds * 1000;
    if (sent?.status) this.statusDueAt = now + this.statusEveryMs;
    this.syncAfterMs = (res.syncAfterSeconds ?? 0) * 1000;
    this.reconnectSpreadMs = (res.reconnectSpreadSeconds ?? 0) * 1000;
    if (res.pods || res.podsDiff) this.heldJson = undefined;
    if (res.pods) this.takePods(res.pods, res.podVersions, now);
    else if (res.podsDiff) this.takeDiff(res.podsDiff, now);
    const { routes, ingress } = res.versions;
    this.routesAndIngress = {
      ...(routes !== undefined ? { routes } : {}),
      ...(ingress !== undefined ? { ingress } : {}),
    };
    this.versions = res.versionsJson;
  }

  /**
   * The sync failed (unreachable, 5xx): as the agent, everything is resent (every pod status, the
   * node status) and the next sync renews the Lease; the versions stay.
   */
  failed(refused = false): void {
    this.inFlight = undefined;
    this.leaseRenewedAt = undefined;
    this.statusDueAt = 0;
    // Refused (an older server refuses pod versions): the next pods come whole.
    if (refused) this.named = false;
    for (const p of this.pods.values()) {
      p.reported = false;
      p.terminatedSent = false;
    }
  }

  /** The held sync was cut short to report a start: the server saw the call dropped, so the next renews the Lease. */
  cut(): void {
    this.inFlight = undefined;
    this.leaseRenewedAt = undefined;
  }

  /** A beat-streamed sync went unhonoured: as the agent, plain holds for a while, and the next sync renews the Lease. */
  beatsRefused(now: number): void {
    this.inFlight = undefined;
    this.leaseRenewedAt = undefined;
    this.beatPolicy.refused(now, QUIET, new Error('unhonoured'));
  }

  /** The pods bound to the node now: new ones start, terminating ones are reported gone, missing ones forgotten. */
  private takePods(pods: Record<string, unknown>[], versions: string[] | undefined, now: number): void {
    const seen = new Set<string>();
    this.named = versions !== undefined && versions.length === pods.length;
    pods.forEach((pod, i) => {
      seen.add(this.takePod(pod, this.named ? versions?.[i] : undefined, now));
    });
    for (const uid of this.pods.keys()) if (!seen.has(uid)) this.pods.delete(uid);
  }

  /** As the agent: the pods added or changed, then the versions removed (a changed pod keeps its uid). */
  private takeDiff(diff: PodsDiff, now: number): void {
    diff.pods.forEach((pod, i) => {
      this.takePod(pod, diff.versions[i], now);
    });
    const removed = new Set(diff.removed);
    for (const [uid, p] of this.pods) if (p.version !== undefined && removed.has(p.version)) this.pods.delete(uid);
    this.named = [...this.pods.values()].every((p) => p.version !== undefined);
  }

  /** A pod as the server sent it: a new one starts, a terminating one is reported gone. Returns its uid. */
  private takePod(pod: Record<string, unknown>, version: string | undefined, now: number): string {
    const meta = pod.metadata as { uid: string; name: string; namespace: string; deletionTimestamp?: string };
    let entry = this.pods.get(meta.uid);
    if (!entry) {
      const ref: PodRef = { namespace: meta.namespace, name: meta.name, uid: meta.uid };
      const refJson = JSON.stringify(ref);
      // Built now, while the pod is at hand; sent once due.
      const report = `{"pod":${refJson},"status":${JSON.stringify(this.status(meta.uid, pod, now))}}`;
      entry = {
        report,
        dueAt: now + this.startMs,
        reported: false,
        terminating: false,
        terminatedSent: false,
        ref: refJson,
        version,
      };
      this.pods.set(meta.uid, entry);
    }
    entry.version = version;
    if (meta.deletionTimestamp) entry.terminating = true;
    return meta.uid;
  }

  /** `[...]` of the versions of the pods held, or undefined when the server named none (or too many are held). */
  private heldPods(): string | undefined {
    if (!this.named || this.pods.size > MAX_HELD_PODS) return undefined;
    // Kept until the pods change: a quiet sync builds no new string for them.
    this.heldJson ??= JSON.stringify([...this.pods.values()].map((p) => p.version));
    return this.heldJson;
  }

  private status(uid: string, pod: Record<string, unknown>, now: number): Record<string, unknown> {
    return runningPodStatus(pod, {
      nodeIp: this.nodeIp,
      podIp: `10.99.0.${(this.podSeq++ % 250) + 1}`,
      nextHostPort: () => this.hostPort++,
      containerId: (c) => `${this.name}-${uid.slice(0, 8)}-${c}`,
      now: now + this.startMs,
    });
  }

  /** For tests: the pods it holds and what it has reported of them. */
  view(): { uid: string; reported: boolean; terminating: boolean }[] {
    return [...this.pods].map(([uid, p]) => ({ uid, reported: p.reported, terminating: p.terminating }));
  }
}
