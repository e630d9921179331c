/**
 * Simulated nodes for the cost and scale benches: the real agent (agent/agent.ts: register, then
 * the sync loop as the control plane paces it) with the real pod manager on the in-memory
 * runtime, many in one process, talking HTTP to a control plane. Only the agent's public seams
 * are used (the API client is wrapped to time each sync), so protocol changes reach the benches
 * without edits here. Each node's state lives in its own directory under `root`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from '../../agent/agent';
import { AgentApiClient } from '../../agent/api-client';
import { loadConfig } from '../../agent/config';
import type { AgentLogger } from '../../agent/log';
import { PodManager } from '../../agent/pods/manager';
import { FakeRuntime } from '../../agent/runtime/fake';
import type { SyncRequest, SyncResponse } from '../../schemas/agent-protocol';

export interface SyncTimings {
  /** Completed syncs (all agents). */
  count: number;
  /** Latencies (ms) of the syncs the agent did not ask the server to hold: the server's answer time. */
  latencies: number[];
  /** Held syncs answered more than a second after the wait they asked for. */
  heldLate: number;
  failed: number;
  /** Latencies are kept only while recording. */
  recording: boolean;
}

/** An API client that times every sync: the only change to the agent is this measurement. */
class TimedClient extends AgentApiClient {
  constructor(
    url: string,
    token: string,
    private readonly timings: SyncTimings,
  ) {
    super(url, token);
  }

  override async sync(body: SyncRequest, signal?: AbortSignal): Promise<SyncResponse> {
    const started = performance.now();
    try {
      const res = await super.sync(body, signal);
      const ms = performance.now() - started;
      // Read loosely: the request's shape belongs to the protocol, which may drop the field.
      const waitMs = ((body as { waitSeconds?: number }).waitSeconds ?? 0) * 1000;
      this.timings.count++;
      if (this.timings.recording) {
        if (waitMs === 0) this.timings.latencies.push(ms);
        else if (ms > waitMs + 1000) this.timings.heldLate++;
      }
      return res;
    } catch (err) {
      if (!signal?.aborted) this.timings.failed++;
      throw err;
    }
  }
}

const quiet: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface SimulatedNode {
  name: string;
  agent: Agent;
  pods: PodManager;
  runtime: FakeRuntime;
  done: Promise<void>;
}

export interface Fleet {
  nodes: SimulatedNode[];
  timings: SyncTimings;
  /** Stops every agent loop and pod manager (containers "keep running", as a real agent leaves them). */
  stop(): Promise<void>;
}

export interface FleetOptions {
  apiUrl: string;
  bootstrapToken: string;
  count: number;
  root: string;
  prefix?: string;
  /** Spread the agents' starts over this long, as machines booting do not start in one instant. */
  rampMs?: number;
  /** The pod manager's reconcile tick (the agent's default: 1 s). */
  tickMs?: number;
  log?: AgentLogger;
  /** Keep sync latencies from the first sync on (else from `timings.recording = true`). */
  record?: boolean;
  /** Spreads node IPs of several fleets (10.<ipBase + i / 250>.<i % 250>.1), as the light fleet does. */
  ipBase?: number;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const timings: SyncTimings = { count: 0, latencies: [], heldLate: 0, failed: 0, recording: options.record ?? false };
  const nodes: SimulatedNode[] = [];
  const log = options.log ?? quiet;
  const gap = options.count > 0 ? (options.rampMs ?? 0) / options.count : 0;
  for (let i = 0; i < options.count; i++) {
    const name = `${options.prefix ?? 'node'}-${String(i).padStart(4, '0')}`;
    const stateDir = join(options.root, name);
    mkdirSync(stateDir, { recursive: true });
    // The agent's own flag parser, so its defaults (sync wait, back-off) are the shipped ones.
    const config = loadConfig(
      [
        ...['--api-url', options.apiUrl, '--token', options.bootstrapToken, '--node-name', name],
        ...[
          '--node-ip',
          `10.${((options.ipBase ?? 0) + Math.floor(i / 250)) % 250}.${i % 250}.1`,
          '--state-dir',
          stateDir,
        ],
        ...['--cpu', '4', '--memory', '8Gi', '--log-level', 'error'],
      ],
      {},
    );
    const runtime = new FakeRuntime();
    const pods = new PodManager(runtime, {
      nodeIp: config.nodeIp,
      stateDir,
      log,
      ...(options.tickMs ? { tickMs: options.tickMs } : {}),
    });
    const agent = new Agent(
      config,
      new TimedClient(options.apiUrl, options.bootstrapToken, timings),
      pods,
      log,
      Date.now,
      {
        update: async () => {},
      },
    );
    await pods.start();
    const done = agent.run().catch((err: unknown) => log.error('agent stopped', { node: name, error: String(err) }));
    nodes.push({ name, agent, pods, runtime, done });
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
  }
  return {
    nodes,
    timings,
    async stop() {
      for (const n of nodes) n.agent.stop();
      await Promise.all(nodes.map((n) => n.pods.stop()));
      await Promise.all(nodes.map((n) => n.done));
    },
  };
}
