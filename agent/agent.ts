/**
 * The agent's main loop: register once with a bootstrap token, then sync forever.
 *
 * Pull-diff-apply: the agent holds the desired state the control plane sent (its pods, their
 * ConfigMaps and Secrets, pending log requests, the service routes) with one version per section,
 * sends those versions, and applies the sections an answer carries (the routes and, with a server
 * that names pod versions, the pods as diffs: held-pods.ts). The pod manager still gets the whole
 * pod list and config on every sync. Where the server holds quiet
 * syncs (local) the loop calls again at once; where it does not (Lambda) it waits the interval the
 * answer names, cut short when a pod status changes.
 *
 * Static stability: the pod manager keeps containers running and restarting on its own timer; the
 * sync loop only feeds it the desired pods. When the control plane is unreachable the loop retries
 * with back-off and jitter and nothing else changes; when it returns, the next sync reports the
 * true state (every pod status is resent after a failed sync).
 */
import { randomBytes } from 'node:crypto';
import type {
  ConfigSource,
  LogRequestRef,
  RoutesDiff,
  ServiceRoute,
  SyncRequest,
  SyncResponse,
  SyncVersions,
  UsageWanted,
} from '../schemas/agent-protocol';
import { withSignal } from './abort';
import {
  type AgentApiClient,
  ApiRequestError,
  ApiUnreachableError,
  BeatsUnhonouredError,
  CredentialRejectedError,
} from './api-client';
import { createBackoff, reconnectDelayMs, sleep } from './backoff';
import { BeatPolicy } from './beat-policy';
import type { AgentConfig } from './config';
import { loadCredential, saveCredential } from './credentials';
import { HeldPods } from './held-pods';
import type { AgentLogger } from './log';
import { noteSync, noteSyncError } from './metrics-endpoint-state';
import { buildNodeStatus, nodeStatusFingerprint } from './node-status';

import type { IngressSink, PodSink, ServiceSink, UsageSource } from './sinks';

export type { IngressSink, PodSink, ServiceSink, UsageSource };

/**
 * Every this often the agent forgets its pod, config and log versions and is sent them whole: a
 * net under a change whose NodeDesired bump was lost (functions/node-desired.ts). Not the routes
 * nor the ingress table, each the whole cluster's (their writers repair their own fan-out).
 */
export const FULL_RESYNC_MS = 10 * 60_000;

export class Agent {
  private readonly abort = new AbortController();
  private lastNodeFingerprint = '';
  private lastNodeStatusAt = 0;
  private nodeStatusEveryMs = 60_000;
  /** The versions of what it holds; a section without one is sent whole. */
  private versions: Partial<SyncVersions> = {};
  private lastFullAt = 0;
  private leaseRenewedAt: number | undefined;
  /** The desired state as last sent, section by section (the pods with their versions: held-pods.ts). */
  private readonly desiredPods = new HeldPods();
  private desiredConfig: { configMaps: ConfigSource[]; secrets: ConfigSource[] } = { configMaps: [], secrets: [] };
  private logRequests: LogRequestRef[] = [];
  private readonly routes = new Map<string, ServiceRoute>();
  /** When the server polls rather than holds (Lambda): wait this long before the next sync. */
  private nextSyncAfterMs = 0;
  /** Over how long the first reconnect to a server that went away is spread (its last answer's ask). */
  private reconnectSpreadMs = 0;
  private readonly answeringLogs = new Set<string>();
  /** The sync being held open by the server, or the pause between polls: cut short when a pod status changes. */
  private held: AbortController | undefined;
  /** The held call streams beats to a server that takes wakes in the stream: aborted, it sends one. */
  private heldWake: AbortController | undefined;
  /** Whether the server holds syncs (its answers name no poll interval), and the call a wake was asked for. */
  private serverHolds = false;
  private wakingFor: AbortController | undefined;
  /** Usage: where it comes from, whether the server wants it, when it was last sent. */
  private usage: UsageSource | undefined;
  private usageWanted: UsageWanted | undefined;
  private usageSentAt = 0;
  private readonly beats = new BeatPolicy();
  /** Sent on every registration try: one whose answer was lost is the same registration (api/register.ts). */
  private readonly registrationId = randomBytes(16).toString('base64url');

  constructor(
    private readonly config: AgentConfig,
    private readonly client: AgentApiClient,
    private readonly pods: PodSink,
    private readonly log: AgentLogger,
    private readonly now: () => number = Date.now,
    private readonly services?: ServiceSink,
    private readonly ingress?: IngressSink,
  ) {
    pods.onStatusChange(() => this.wake());
  }

  /**
   * A pod's status changed: report it now rather than when the held sync returns (up to 5 s
   * later). Aborting our own held call is safe: it carried nothing to report, and the next sync
   * renews the lease before the server's disconnect check looks. A change while no sync is held
   * needs nothing: the next sync reads the statuses after it starts.
   */
  private wake(): void {
    const held = this.held;
    if (!held || held.signal.aborted || this.wakingFor === held) return;
    // Beats to a server that takes wakes in the stream: the wake goes on the held call's own
    // connection (schemas/agent-beats.ts), no second request.
    if (this.heldWake) {
      this.wakingFor = held;
      this.heldWake.abort();
      return;
    }
    // Held by a server that holds (its answers set no poll interval): ask it to answer now, so the
    // report goes out on this connection instead of a new one (api/agent/desired.ts
    // releaseHeldSyncs: a server accepts one new connection per event-loop turn). If it held
    // nothing yet, it keeps the wake for the sync on its way (`kept`); only if it did neither, or
    // cannot be asked, cut the call as before.
    if (this.serverHolds) {
      this.wakingFor = held;
      Promise.resolve()
        .then(() => this.client.wake())
        .then((r) => {
          if (r.released === 0 && !r.kept) held.abort();
        })
        .catch(() => held.abort());
      return;
    }
    held.abort();
  }

  /**
   * After a failed sync: the next one renews the Lease (the server may have seen the call cut).
   * The versions stay: they still describe what the agent holds, so a control plane that comes
   * back is not asked for every node's whole state at once.
   */
  private forget(): void {
    this.leaseRenewedAt = undefined;
  }

  stop(): void {
    this.abort.abort();
  }

  /** The node reports usage from `source` while the server asks for it (HPAs, `kubectl top`). */
  reportUsageFrom(source: UsageSource): void {
    this.usage = source;
  }

  /**
   * Usage goes out while the server wants it, at most twice per interval it names (syncs come
   * faster while pods change), and a held sync is held no longer than that interval, so the
   * control plane's copy is never older than the interval and a round trip.
   */
  private async addUsage(req: SyncRequest): Promise<void> {
    const wanted = this.usageWanted;
    if (!wanted || !this.usage) return;
    const everyMs = wanted.everySeconds * 1000;
    if (req.waitSeconds !== undefined) req.waitSeconds = Math.min(req.waitSeconds, wanted.everySeconds);
    if (this.now() - this.usageSentAt < everyMs / 2) return;
    try {
      req.usage = await this.usage.report();
    } catch (err) {
      this.log.warn('reading container usage failed', { error: String(err) });
    }
  }

  async run(): Promise<void> {
    await this.ensureRegistered();
    const backoff = createBackoff(500, 15_000);
    while (!this.abort.signal.aborted) {
      try {
        await this.syncOnce();
        backoff.reset();
        await this.waitForNextSync();
      } catch (err) {
        if (this.abort.signal.aborted) break;
        noteSyncError();
        this.pods.markAllUnreported();
        this.lastNodeFingerprint = '';
        this.forget();
        if (err instanceof CredentialRejectedError) {
          this.log.error('node credential rejected; re-registering', {});
          await this.register().catch((e) => this.log.warn('re-register failed', { error: String(e) }));
        } else {
          const level = err instanceof ApiUnreachableError ? 'warn' : 'error';
          this.log[level]('sync failed; containers keep running', {
            error: String((err as Error).message),
            attempt: backoff.attempts,
          });
        }
        // The server gone (a restart drops every node's held sync at once): the first retry is
        // spread over the window it asked for, so its agents do not all reconnect in one second.
        const first = backoff.attempts === 0 && err instanceof ApiUnreachableError;
        await sleep(reconnectDelayMs(backoff.next(), this.reconnectSpreadMs, first), this.abort.signal);
      }
    }
  }

  private async ensureRegistered(): Promise<void> {
    const stored = loadCredential(this.config.stateDir, this.config.nodeName, this.config.apiUrl);
    if (stored) {
      this.client.setToken(stored.token);
      return;
    }
    const backoff = createBackoff(500, 15_000);
    while (!this.abort.signal.aborted) {
      try {
        await this.register();
        return;
      } catch (err) {
        if (err instanceof CredentialRejectedError)
          throw new Error('registering node: bootstrap token rejected (expired or revoked?)');
        this.log.warn('register failed; retrying', { error: String((err as Error).message) });
        await sleep(backoff.next(), this.abort.signal);
      }
    }
  }

  private async register(): Promise<void> {
    if (!this.config.token) throw new Error('registering node: no bootstrap token (--token / FERRY_TOKEN)');
    this.client.setToken(this.config.token);
    const health = await this.pods.runtimeHealthy();
    const res = await this.client.register({
      nodeName: this.config.nodeName,
      labels: this.config.labels,
      status: this.nodeStatus(health),
      registrationId: this.registrationId,
    });
    saveCredential(this.config.stateDir, { nodeName: res.nodeName, token: res.token, apiUrl: this.config.apiUrl });
    this.client.setToken(res.token);
    this.log.info('registered node', { node: res.nodeName });
  }

  private nodeStatus(health: { ok: boolean; message: string; version: string }) {
    return buildNodeStatus({
      config: this.config,
      runtimeVersion: health.version,
      ready: health.ok,
      readyMessage: health.message,
      now: new Date(this.now()),
    });
  }

  async syncOnce(): Promise<void> {
    const req: SyncRequest = { waitSeconds: this.beats.holdSeconds(this.config.syncWaitSeconds, this.now()) };
    const health = await this.pods.runtimeHealthy();
    const status = this.nodeStatus(health);
    const fingerprint = nodeStatusFingerprint(status);
    const statusDue = this.now() - this.lastNodeStatusAt > this.nodeStatusEveryMs;
    if (fingerprint !== this.lastNodeFingerprint || statusDue) req.nodeStatus = status;
    const statuses = this.pods.changedStatuses();
    const terminated = this.pods.terminated();
    if (statuses.length) req.podStatuses = statuses;
    if (terminated.length) req.terminated = terminated;
    if (this.now() - this.lastFullAt > FULL_RESYNC_MS) {
      const { routes, ingress } = this.versions;
      this.versions = { ...(routes !== undefined ? { routes } : {}), ...(ingress !== undefined ? { ingress } : {}) };
      this.lastFullAt = this.now();
    }
    if (Object.keys(this.versions).length) req.versions = { ...this.versions };
    // The pods held, by version, so a pods answer is a diff (held-pods.ts); not after a full resync's reset.
    const heldPods = this.desiredPods.versions();
    if (heldPods && this.versions.pods !== undefined) req.heldPods = heldPods;
    if (this.leaseRenewedAt !== undefined) req.leaseRenewedAt = this.leaseRenewedAt;
    await this.addUsage(req);
    // Hold the call open only when there is nothing to report, so status changes go out at once.
    if (statuses.length || terminated.length || req.nodeStatus) req.waitSeconds = 0;
    // Beats prove this agent alive while held (agent/beat-policy.ts): it asks for the offer's longer hold.
    const beats = this.beats.use(req.waitSeconds, this.now());
    const held = req.waitSeconds ? new AbortController() : undefined;
    this.held = held;
    const wakeInBand = beats?.wakes ? new AbortController() : undefined;
    this.heldWake = wakeInBand;
    let res: SyncResponse;
    try {
      // A signal of its own for each call: the stop signal lives as long as the agent (abort.ts).
      const started = performance.now();
      res = await withSignal(held ? [this.abort.signal, held.signal] : [this.abort.signal], (signal) =>
        beats ? this.client.syncWithBeats(req, beats, signal, wakeInBand?.signal) : this.client.sync(req, signal),
      );
      noteSync(held !== undefined, (performance.now() - started) / 1000);
    } catch (err) {
      if (err instanceof BeatsUnhonouredError) {
        this.beats.refused(this.now(), this.log, err);
        this.leaseRenewedAt = undefined;
        return;
      }
      // Cut short by wake(): nothing was sent that needs resending; go round and report. The
      // server saw the call dropped, so the next sync renews the Lease (api/agent/disconnect.ts).
      if (held?.signal.aborted && !this.abort.signal.aborted) {
        this.leaseRenewedAt = undefined;
        return;
      }
      // Refused (an older server refuses the pod versions it never named): the next pods come whole.
      if (err instanceof ApiRequestError) this.desiredPods.unname();
      throw err;
    } finally {
      this.held = undefined;
      this.heldWake = undefined;
    }
    if (req.nodeStatus) {
      this.lastNodeFingerprint = fingerprint;
      this.lastNodeStatusAt = this.now();
    }
    this.pods.markReported(statuses, terminated);
    if (req.usage) this.usageSentAt = this.now();
    await this.apply(res);
  }

  /** Takes in the sections the answer carries, and feeds the proxy and the pod manager. */
  private async apply(res: SyncResponse): Promise<void> {
    this.leaseRenewedAt = res.leaseRenewedAt;
    this.beats.offered(res.beats);
    this.nodeStatusEveryMs = res.nodeStatusUpdateSeconds * 1000;
    this.nextSyncAfterMs = (res.syncAfterSeconds ?? 0) * 1000;
    this.serverHolds = res.syncAfterSeconds === undefined;
    this.reconnectSpreadMs = (res.reconnectSpreadSeconds ?? 0) * 1000;
    // Usage newly asked for: the first report goes out at once, not a poll interval later.
    if (res.usage && !this.usageWanted && this.usage) this.nextSyncAfterMs = 0;
    this.usageWanted = res.usage;
    this.desiredPods.take(res);
    if (res.configMaps || res.secrets)
      this.desiredConfig = { configMaps: res.configMaps ?? [], secrets: res.secrets ?? [] };
    if (res.logRequests) this.logRequests = res.logRequests;
    const volumes = res.volumes;
    // Routes first: a pod that starts now gets the Service variables of this sync.
    if (res.routes) {
      this.applyRoutes(res.routes);
      if (this.services) await this.services.update([...this.routes.values()]);
    }
    if (this.ingress && (res.routes || res.ingress))
      await this.ingress.update(res.ingress, res.routes ? [...this.routes.values()] : undefined);
    // Volumes come with the pods: an answer without them leaves what the manager holds.
    this.pods.setDesired(this.desiredPods.list(), this.desiredConfig, volumes);
    this.answerLogRequests(this.logRequests);
    // Last: an answer that failed to apply (the proxy could not bind) is asked for again.
    this.versions = { ...res.versions };
  }

  private applyRoutes(diff: RoutesDiff): void {
    if (diff.full) this.routes.clear();
    for (const key of diff.removed ?? []) this.routes.delete(key);
    for (const r of diff.services) this.routes.set(`${r.namespace}/${r.name}`, r);
  }

  /** Polled servers (Lambda): waits the interval the last answer named, but a pod status change ends it. */
  async waitForNextSync(): Promise<void> {
    if (this.nextSyncAfterMs <= 0 || this.abort.signal.aborted) return;
    const pause = new AbortController();
    this.held = pause;
    try {
      await withSignal([this.abort.signal, pause.signal], (signal) => sleep(this.nextSyncAfterMs, signal));
    } finally {
      this.held = undefined;
      this.heldWake = undefined;
    }
  }

  /** Answers each log request once, in the background; the server drops answered ones from the sync. */
  private answerLogRequests(requests: LogRequestRef[]): void {
    const pending = new Set(requests.map((r) => r.name));
    for (const name of this.answeringLogs) if (!pending.has(name)) this.answeringLogs.delete(name);
    for (const r of requests) {
      if (this.answeringLogs.has(r.name)) continue;
      this.answeringLogs.add(r.name);
      const stream = r.stream;
      if (stream) {
        // Answered by dialing back, not by posting: the session is the answer.
        void this.pods
          .stream?.({ ...r, stream }, (session) => this.client.dialStream(session))
          .catch((err) => this.log.warn('a stream session failed', { request: r.name, error: String(err) }));
        continue;
      }
      void (async () => {
        const result = await this.pods.logs(r);
        await this.client.answerLogs({ namespace: r.namespace, name: r.name, ...result });
      })().catch((err) => this.log.warn('answering a log request failed', { request: r.name, error: String(err) }));
    }
  }
}
