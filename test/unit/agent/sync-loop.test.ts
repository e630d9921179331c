/**
 * The agent's sync loop against a scripted API client: a sync the server holds open (long-poll)
 * is cut short as soon as a pod status changes, so a started pod is reported at once instead of
 * when the hold ends (up to 5 s later).
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Agent, type PodSink } from '../../../agent/agent';
import type { AgentApiClient } from '../../../agent/api-client';
import type { AgentConfig } from '../../../agent/config';
import type { PodRef, SyncRequest, SyncResponse, WakeResponse } from '../../../schemas/agent-protocol';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const config = {
  nodeName: 'n1',
  nodeIp: '127.0.1.1',
  syncWaitSeconds: 5,
  maxPods: 110,
  labels: {},
} as unknown as AgentConfig;
const POD: PodRef = { uid: 'u1', name: 'web-1', namespace: 'default' };

/** Answers at once unless the request asks to be held; a held call waits 5 s or until aborted. */
class ScriptedClient {
  readonly calls: { req: SyncRequest; at: number }[] = [];
  syncAfterSeconds: number | undefined;
  /** Extra fields of each answer in turn. */
  script: Partial<SyncResponse>[] = [];
  /** What `/agent/v1/wake` answers (undefined: the call fails); a release or a kept wake answers the hold. */
  wakeAnswer: WakeResponse | undefined;
  cuts = 0;
  private answerHeld: (() => void) | undefined;
  async wake(): Promise<WakeResponse> {
    if (!this.wakeAnswer) throw new Error('no wake here');
    if (this.wakeAnswer.released > 0 || this.wakeAnswer.kept) setTimeout(() => this.answerHeld?.(), 20);
    return this.wakeAnswer;
  }
  async sync(req: SyncRequest, signal?: AbortSignal): Promise<SyncResponse> {
    this.calls.push({ req, at: Date.now() });
    if (req.waitSeconds) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, (req.waitSeconds ?? 0) * 1000);
        this.answerHeld = () => {
          clearTimeout(timer);
          resolve();
        };
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          this.cuts++;
          reject(new Error('aborted'));
        });
      });
    }
    return {
      versions: { pods: 'p1', config: 'c1', logs: 'l1', routes: '1' },
      pods: [],
      nodeStatusUpdateSeconds: 60,
      leaseRenewedAt: 0,
      ...(this.syncAfterSeconds ? { syncAfterSeconds: this.syncAfterSeconds } : {}),
      ...this.script.shift(),
    };
  }
}

/** A pod sink whose statuses the test sets; `changed()` plays the pod manager noticing a change. */
class ScriptedPods implements PodSink {
  statuses: { pod: PodRef; status: Record<string, unknown> }[] = [];
  private listener: (() => void) | undefined;
  setDesired(): void {}
  async logs() {
    return { error: 'not in this test' };
  }
  changedStatuses() {
    return this.statuses;
  }
  terminated(): PodRef[] {
    return [];
  }
  markReported(reported: { pod: PodRef; status: Record<string, unknown> }[]): void {
    // Only what that sync carried: a change that came while it was held is still to report.
    this.statuses = this.statuses.filter((s) => !reported.includes(s));
  }
  markAllUnreported(): void {}
  async runtimeHealthy() {
    return { ok: true, message: 'ok', version: 'test' };
  }
  onStatusChange(listener: () => void): void {
    this.listener = listener;
  }
  changed(status: Record<string, unknown>): void {
    this.statuses = [{ pod: POD, status }];
    this.listener?.();
  }
}

function setup() {
  const client = new ScriptedClient();
  const pods = new ScriptedPods();
  const agent = new Agent(config, client as unknown as AgentApiClient, pods, log);
  return { client, pods, agent };
}

/** How many signals hang on `signal`: its abort listeners and the composite signals made from it. */
function hangingOn(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = dependants ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants] : undefined;
  return getEventListeners(signal, 'abort').length + (set?.size ?? 0);
}

describe('agent sync loop', () => {
  it('leaves nothing hanging on its stop signal after many held syncs and polling pauses', async () => {
    // prepare: a server that answers at once, held or not, and names a 1 ms pause
    const client = new ScriptedClient();
    client.syncAfterSeconds = 0.001;
    client.sync = async () => ({
      versions: { pods: 'p1', config: 'c1', logs: 'l1', routes: '1' },
      nodeStatusUpdateSeconds: 60,
      leaseRenewedAt: 0,
      syncAfterSeconds: 0.001,
    });
    const agent = new Agent(config, client as unknown as AgentApiClient, new ScriptedPods(), log);
    const stopSignal = (agent as unknown as { abort: AbortController }).abort.signal;

    // act
    for (let i = 0; i < 200; i++) {
      await agent.syncOnce();
      await agent.waitForNextSync();
    }

    // assess: each call's signal was let go of (AbortSignal.any kept one per call on Node 20)
    expect(hangingOn(stopSignal)).toBe(0);
  });

  it('cuts a held sync short when a pod status changes and reports it at once', async () => {
    // prepare
    const { client, pods, agent } = setup();
    await agent.syncOnce(); // first sync: node status, answered at once
    const held = agent.syncOnce();
    await new Promise((r) => setTimeout(r, 50));

    // act
    const changedAt = Date.now();
    pods.changed({ phase: 'Running' });
    await held;
    await agent.syncOnce();

    // assess
    expect(client.calls.map((c) => c.req.waitSeconds)).toEqual([0, 5, 0]);
    const report = client.calls[2];
    expect(report?.req.podStatuses).toEqual([{ pod: POD, status: { phase: 'Running' } }]);
    expect((report?.at ?? Number.POSITIVE_INFINITY) - changedAt).toBeLessThan(1000);
  });

  it('asks a holding server to answer its held sync, and does not cut it when the server kept the wake for it', async () => {
    // prepare: the server held nothing yet (the sync is on its way) but keeps the wake
    const { client, pods, agent } = setup();
    client.wakeAnswer = { released: 0, kept: true };
    await agent.syncOnce();
    const held = agent.syncOnce();
    await new Promise((r) => setTimeout(r, 50));

    // act
    const changedAt = Date.now();
    pods.changed({ phase: 'Running' });
    await held;
    await agent.syncOnce();

    // assess: answered, not cut (no new connection), and the report went out at once
    expect(client.cuts).toBe(0);
    expect(client.calls.map((c) => c.req.waitSeconds)).toEqual([0, 5, 0]);
    expect((client.calls[2]?.at ?? Number.POSITIVE_INFINITY) - changedAt).toBeLessThan(1000);
  });

  it('cuts its held sync when the server neither held nor kept the wake (an older server)', async () => {
    // prepare
    const { client, pods, agent } = setup();
    client.wakeAnswer = { released: 0 };
    await agent.syncOnce();
    const held = agent.syncOnce();
    await new Promise((r) => setTimeout(r, 50));

    // act
    pods.changed({ phase: 'Running' });
    await held;

    // assess
    expect(client.cuts).toBe(1);
  });

  it('waits the interval a polling server names, and cuts the wait short when a pod status changes', async () => {
    // prepare
    const client = new ScriptedClient();
    client.syncAfterSeconds = 20;
    const pods = new ScriptedPods();
    const agent = new Agent(config, client as unknown as AgentApiClient, pods, log);
    await agent.syncOnce();
    const waiting = agent.waitForNextSync();
    let waited = false;
    void waiting.then(() => {
      waited = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    const stillWaiting = !waited;

    // act
    const changedAt = Date.now();
    pods.changed({ phase: 'Running' });
    await waiting;
    await agent.syncOnce();

    // assess
    expect(stillWaiting).toBe(true);
    expect(client.calls[0]?.req.waitSeconds).toBe(0);
    expect(client.calls[1]?.req.podStatuses).toEqual([{ pod: POD, status: { phase: 'Running' } }]);
    expect((client.calls[1]?.at ?? Number.POSITIVE_INFINITY) - changedAt).toBeLessThan(1000);
  });

  it('applies route diffs to the table it holds and sends back the versions and Lease time it was given', async () => {
    // prepare
    const client = new ScriptedClient();
    const route = (name: string, port: number) => ({
      namespace: 'default',
      name,
      ports: [{ port: 80, nodePort: port, protocol: 'TCP', endpoints: [] }],
    });
    client.script = [
      { routes: { full: true, services: [route('a', 30001), route('b', 30002)] } },
      { routes: { full: false, services: [route('a', 30003)], removed: ['default/b'] } },
      {},
    ];
    const tables: unknown[] = [];
    const quick = { ...config, syncWaitSeconds: 0 } as AgentConfig;
    const agent = new Agent(quick, client as unknown as AgentApiClient, new ScriptedPods(), log, Date.now, {
      update: async (r) => {
        tables.push(r);
      },
    });

    // act
    await agent.syncOnce();
    await agent.syncOnce();
    await agent.syncOnce();

    // assess
    expect(tables).toEqual([[route('a', 30001), route('b', 30002)], [route('a', 30003)]]);
    expect(client.calls[1]?.req.versions).toEqual({ pods: 'p1', config: 'c1', logs: 'l1', routes: '1' });
    expect(client.calls[1]?.req.leaseRenewedAt).toBe(0);
  });
});
