/**
 * The agent's main loop: register once with a bootstrap token, then sync forever.
 *
 * Static stability: the pod manager keeps containers running and restarting on its own timer; the
 * sync loop only feeds it the desired pods. When the control plane is unreachable the loop retries
 * with back-off and jitter and nothing else changes; when it returns, the next sync reports the
 * true state (every pod status is resent after a failed sync).
 */
import type { ConfigSource, LogRequestRef, PodRef, ServiceRoute, SyncRequest } from '../schemas/agent-protocol';
import { type AgentApiClient, ApiUnreachableError, CredentialRejectedError } from './api-client';
import { createBackoff, sleep } from './backoff';
import type { AgentConfig } from './config';
import { loadCredential, saveCredential } from './credentials';
import type { AgentLogger } from './log';
import { buildNodeStatus, nodeStatusFingerprint } from './node-status';

/** What the sync loop needs from the pod manager (agent/pods/). */
export interface PodSink {
  /** The pods bound to this node, as the control plane sees them now. */
  setDesired(pods: Record<string, unknown>[], config?: { configMaps?: ConfigSource[]; secrets?: ConfigSource[] }): void;
  /** Statuses that changed since `markReported` was last called for them. */
  changedStatuses(): { pod: PodRef; status: Record<string, unknown> }[];
  /** Terminating pods whose containers are all gone. */
  terminated(): PodRef[];
  markReported(statuses: { pod: PodRef; status: Record<string, unknown> }[], terminated: PodRef[]): void;
  /** After a failed sync, everything is resent. */
  markAllUnreported(): void;
  runtimeHealthy(): Promise<{ ok: boolean; message: string; version: string }>;
  /** A container's output, for a log request. */
  logs(req: LogRequestRef): Promise<{ content: string } | { error: string }>;
  /** Called when there are statuses to report, so a held sync can be cut short. */
  onStatusChange(listener: () => void): void;
}

/** What the sync loop feeds the service proxy (agent/proxy/). */
export interface ServiceSink {
  update(routes: ServiceRoute[]): Promise<void>;
}

export class Agent {
  private readonly abort = new AbortController();
  private lastNodeFingerprint = '';
  private lastNodeStatusAt = 0;
  private podsVersion: string | undefined;
  private servicesVersion: string | undefined;
  private readonly answeringLogs = new Set<string>();
  /** The sync being held open by the server, if any: cut short when a pod status changes. */
  private held: AbortController | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly client: AgentApiClient,
    private readonly pods: PodSink,
    private readonly log: AgentLogger,
    private readonly now: () => number = Date.now,
    private readonly services?: ServiceSink,
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
    this.held?.abort();
  }

  stop(): void {
    this.abort.abort();
  }

  async run(): Promise<void> {
    await this.ensureRegistered();
    const backoff = createBackoff(500, 15_000);
    while (!this.abort.signal.aborted) {
      try {
        await this.syncOnce();
        backoff.reset();
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.pods.markAllUnreported();
        this.lastNodeFingerprint = '';
        this.podsVersion = undefined;
        this.servicesVersion = undefined;
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
        await sleep(backoff.next(), this.abort.signal);
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
    const req: SyncRequest = { waitSeconds: this.config.syncWaitSeconds };
    const health = await this.pods.runtimeHealthy();
    const status = this.nodeStatus(health);
    const fingerprint = nodeStatusFingerprint(status);
    const statusDue = this.now() - this.lastNodeStatusAt > 60_000;
    if (fingerprint !== this.lastNodeFingerprint || statusDue) req.nodeStatus = status;
    const statuses = this.pods.changedStatuses();
    const terminated = this.pods.terminated();
    if (statuses.length) req.podStatuses = statuses;
    if (terminated.length) req.terminated = terminated;
    if (this.podsVersion) req.podsVersion = this.podsVersion;
    if (this.servicesVersion) req.servicesVersion = this.servicesVersion;
    // Hold the call open only when there is nothing to report, so status changes go out at once.
    if (statuses.length || terminated.length || req.nodeStatus) req.waitSeconds = 0;
    const held = req.waitSeconds ? new AbortController() : undefined;
    this.held = held;
    let res: Awaited<ReturnType<AgentApiClient['sync']>>;
    try {
      res = await this.client.sync(req, held ? AbortSignal.any([this.abort.signal, held.signal]) : this.abort.signal);
    } catch (err) {
      // Cut short by wake(): nothing was sent that needs resending; go round and report.
      if (held?.signal.aborted && !this.abort.signal.aborted) return;
      throw err;
    } finally {
      this.held = undefined;
    }
    if (req.nodeStatus) {
      this.lastNodeFingerprint = fingerprint;
      this.lastNodeStatusAt = this.now();
    }
    this.pods.markReported(statuses, terminated);
    this.podsVersion = res.podsVersion;
    // Routes first: a pod that starts now gets the Service variables of this sync.
    if (this.services && res.servicesVersion !== this.servicesVersion) await this.services.update(res.services ?? []);
    this.servicesVersion = res.servicesVersion;
    this.pods.setDesired(res.pods, { configMaps: res.configMaps ?? [], secrets: res.secrets ?? [] });
    this.answerLogRequests(res.logRequests ?? []);
  }

  /** Answers each log request once, in the background; the server drops answered ones from the sync. */
  private answerLogRequests(requests: LogRequestRef[]): void {
    const pending = new Set(requests.map((r) => r.name));
    for (const name of this.answeringLogs) if (!pending.has(name)) this.answeringLogs.delete(name);
    for (const r of requests) {
      if (this.answeringLogs.has(r.name)) continue;
      this.answeringLogs.add(r.name);
      void (async () => {
        const result = await this.pods.logs(r);
        await this.client.answerLogs({ namespace: r.namespace, name: r.name, ...result });
      })().catch((err) => this.log.warn('answering a log request failed', { request: r.name, error: String(err) }));
    }
  }
}
