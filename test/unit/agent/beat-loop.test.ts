/**
 * The agent's sync loop and beats (agent/agent.ts, agent/beat-policy.ts) against a scripted client:
 * a server that offers beats gets quiet syncs held 20 s with beats; one whose beat sync went
 * unhonoured (an old server, a proxy buffering bodies) gets plain 5 s holds at once, with the Lease
 * renewed on the next sync; a server that offers nothing never sees a beat sync; a pod status
 * change during a held beat sync to a server that takes wakes in the stream wakes it there, with
 * no /agent/v1/wake request.
 */
import { describe, expect, it } from 'vitest';
import { Agent, type PodSink } from '../../../agent/agent';
import { type AgentApiClient, BeatsUnhonouredError } from '../../../agent/api-client';
import type { AgentConfig } from '../../../agent/config';
import type { SyncBeatsOffer } from '../../../schemas/agent-beats';
import type { SyncRequest, SyncResponse } from '../../../schemas/agent-protocol';
import { quietPods } from './quiet-pods';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const config = {
  nodeName: 'n1',
  nodeIp: '127.0.1.1',
  syncWaitSeconds: 5,
  maxPods: 110,
  labels: {},
} as unknown as AgentConfig;
const OFFER: SyncBeatsOffer = { everySeconds: 2, holdSeconds: 20 };

/** Answers every call at once; records which way each came. */
class Client {
  readonly calls: { kind: 'plain' | 'beats'; req: SyncRequest }[] = [];
  offer: SyncBeatsOffer | undefined = OFFER;
  beatsFail = false;
  private answer(): SyncResponse {
    return {
      versions: { pods: 'p1', config: 'c1', logs: 'l1', routes: '1' },
      nodeStatusUpdateSeconds: 60,
      leaseRenewedAt: 42,
      ...(this.offer ? { beats: this.offer } : {}),
    };
  }
  async sync(req: SyncRequest): Promise<SyncResponse> {
    this.calls.push({ kind: 'plain', req: { ...req } });
    return this.answer();
  }
  async syncWithBeats(req: SyncRequest, offer: SyncBeatsOffer): Promise<SyncResponse> {
    expect(offer).toEqual(OFFER);
    this.calls.push({ kind: 'beats', req: { ...req } });
    if (this.beatsFail) throw new BeatsUnhonouredError('no head');
    return this.answer();
  }
}

const pods = quietPods;

async function syncs(client: Client, n: number): Promise<void> {
  const agent = new Agent(config, client as unknown as AgentApiClient, pods, log);
  for (let i = 0; i < n; i++) await agent.syncOnce();
}

describe('the agent loop and beats', () => {
  it('holds quiet syncs 20 s streaming beats once the server offers them', async () => {
    // prepare
    const client = new Client();

    // act
    await syncs(client, 3);

    // assess: the first sync carries the node status (not held); the quiet ones beat
    expect(client.calls.map((c) => c.kind)).toEqual(['plain', 'beats', 'beats']);
    expect(client.calls[1]?.req.waitSeconds).toBe(20);
    expect(client.calls[2]?.req.leaseRenewedAt).toBe(42);
  });

  it('falls back to plain 5 s holds at once after a beat sync went unhonoured, renewing the Lease on the next', async () => {
    // prepare
    const client = new Client();
    client.beatsFail = true;

    // act
    await syncs(client, 4);

    // assess
    expect(client.calls.map((c) => c.kind)).toEqual(['plain', 'beats', 'plain', 'plain']);
    expect(client.calls[2]?.req.waitSeconds).toBe(5);
    expect(client.calls[2]?.req.leaseRenewedAt).toBeUndefined();
    expect(client.calls[3]?.req.waitSeconds).toBe(5);
  });

  it('never streams beats to a server that offers none (an older one)', async () => {
    // prepare
    const client = new Client();
    client.offer = undefined;

    // act
    await syncs(client, 3);

    // assess
    expect(client.calls.map((c) => c.kind)).toEqual(['plain', 'plain', 'plain']);
    expect(client.calls[2]?.req.waitSeconds).toBe(5);
  });

  it('wakes a held beat sync in its stream when a pod status changes, without a wake request', async () => {
    // prepare: a server offering wakes; the held call returns when its wake signal fires
    let statusChanged: (() => void) | undefined;
    const watching = { ...pods, onStatusChange: (f: () => void) => (statusChanged = f) } as unknown as PodSink;
    let wakeRequests = 0;
    let wokenInStream = false;
    const offer: SyncBeatsOffer = { ...OFFER, wakes: true };
    const answer: SyncResponse = {
      versions: { pods: 'p1', config: 'c1', logs: 'l1', routes: '1' },
      nodeStatusUpdateSeconds: 60,
      leaseRenewedAt: 42,
      beats: offer,
    };
    const client = {
      sync: async () => answer,
      wake: async () => {
        wakeRequests++;
        return { released: 1, kept: false };
      },
      syncWithBeats: (_req: SyncRequest, _offer: SyncBeatsOffer, _signal?: AbortSignal, wake?: AbortSignal) =>
        new Promise<SyncResponse>((resolve) => {
          const timer = setTimeout(() => resolve(answer), 5_000);
          wake?.addEventListener('abort', () => {
            wokenInStream = true;
            clearTimeout(timer);
            resolve(answer);
          });
        }),
    };
    const agent = new Agent(config, client as unknown as AgentApiClient, watching, log);
    await agent.syncOnce(); // takes the offer

    // act: a status change 100 ms into the held beat sync
    const started = Date.now();
    setTimeout(() => statusChanged?.(), 100);
    await agent.syncOnce();

    // assess
    expect(wokenInStream).toBe(true);
    expect(wakeRequests).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
