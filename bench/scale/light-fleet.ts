/**
 * The light simulated fleet of the scale bench: N nodes in one process, each registering with the
 * bootstrap token and then syncing as the server paces it (bench/scale/light-node.ts), over one
 * shared keep-alive pool (bench/scale/light-http.ts). No agent loop, pod manager or runtime per
 * node: what a node costs here is what it sends and parses. Syncs are timed as bench/lib/agents.ts
 * times the real agent's (the same SyncTimings), so the bench reads both fleets alike.
 */
import { performance } from 'node:perf_hooks';
import { REGISTER_TIMEOUT_MS } from '../../agent/api-client';
import { createBackoff, reconnectDelayMs, sleep } from '../../agent/backoff';
import { BeatsUnhonouredError } from '../../agent/beat-call';
import type { RegisterResponse, WakeResponse } from '../../schemas/agent-protocol';
import type { SyncTimings } from '../lib/agents';
import { readSyncAnswer } from './light-answer';
import { type Call, LightHttp } from './light-http';
import { LightNode } from './light-node';

export interface LightFleetOptions {
  apiUrl: string;
  bootstrapToken: string;
  count: number;
  prefix?: string;
  /** The nodes' starts are spread over this long. */
  rampMs?: number;
  /** How long after a pod arrives it is reported Running (the real agent's pod manager: a tick). */
  startMs?: number;
  /** Keep sync latencies from the first sync on (else from `timings.recording = true`). */
  record?: boolean;
  /** Spreads node IPs of several fleets (10.<ipBase + i / 250>.<i % 250>.1). */
  ipBase?: number;
}

export interface LightTimings extends SyncTimings {
  /** Held syncs cut short to report a pod start, as the agent cuts them when the server held none. */
  cut: number;
  /** Beat-streamed syncs the server (or a proxy) did not take: the node fell back to plain holds. */
  unhonoured: number;
  /** Held syncs the server answered early when asked (`/agent/v1/wake`), as the agent asks. */
  woken: number;
  registered: number;
  /** Answers parsed whole (they carried pods, or were not in the server's usual key order). */
  parsed: number;
  /** Bytes of sync answers received. */
  answerBytes: number;
  /** Of `latencies`, those of syncs that opened a new connection (after a cut, or a closed idle one). */
  connectLatencies: number[];
}

export interface LightFleet {
  nodes: LightNode[];
  timings: LightTimings;
  /** Every node started (the ramp is over). */
  ramped: Promise<void>;
  stop(): Promise<void>;
}

const REGISTER = '/agent/v1/register';
const SYNC = '/agent/v1/sync';
const WAKE = '/agent/v1/wake';

/** Starts the fleet's ramp and returns at once: the fleet can be stopped, and its timings read, while it ramps. */
export function startLightFleet(options: LightFleetOptions): LightFleet {
  const timings: LightTimings = {
    count: 0,
    latencies: [],
    heldLate: 0,
    failed: 0,
    recording: options.record ?? false,
    cut: 0,
    woken: 0,
    unhonoured: 0,
    registered: 0,
    parsed: 0,
    answerBytes: 0,
    connectLatencies: [],
  };
  const http = new LightHttp(options.apiUrl, options.count + 16);
  const stopped = { now: false };
  const nodes: LightNode[] = [];
  const loops: Promise<void>[] = [];
  const ipBase = options.ipBase ?? 0;
  const startNode = (i: number) => {
    const name = `${options.prefix ?? 'node'}-${String(i).padStart(4, '0')}`;
    const ip = `10.${(ipBase + Math.floor(i / 250)) % 250}.${i % 250}.1`;
    const node = new LightNode(name, ip, options.startMs ?? 0);
    nodes.push(node);
    loops.push(runNode(node, http, options.bootstrapToken, timings, stopped));
  };
  // Node i starts at i * rampMs / count from the first, on the clock: a process whose timers run
  // late starts every node that is due at once, so the ramp does not stretch with its delay.
  const rampMs = options.rampMs ?? 0;
  const t0 = Date.now();
  const ramp = (async () => {
    while (nodes.length < options.count && !stopped.now) {
      const due = rampMs > 0 ? Math.ceil(((Date.now() - t0) / rampMs) * options.count) : options.count;
      while (nodes.length < Math.min(options.count, due)) startNode(nodes.length);
      if (nodes.length < options.count) await sleep(20);
    }
  })();
  return {
    nodes,
    timings,
    ramped: ramp,
    async stop() {
      stopped.now = true;
      await ramp;
      http.close();
      await Promise.all(loops);
    },
  };
}

async function runNode(
  node: LightNode,
  http: LightHttp,
  bootstrapToken: string,
  timings: LightTimings,
  stopped: { now: boolean },
): Promise<void> {
  let backoff: ReturnType<typeof createBackoff> | undefined;
  /** As the agent: `unreachable` (no answer, or a 5xx) spreads the first retry over what the server asked. */
  const retry = async (unreachable = false) => {
    backoff ??= createBackoff(500, 15_000);
    const first = backoff.attempts === 0 && unreachable;
    await sleep(reconnectDelayMs(backoff.next(), node.reconnectSpreadMs, first));
  };
  while (!stopped.now && !node.token) {
    try {
      const res = await http.post(REGISTER, bootstrapToken, node.registerBody(Date.now()), 0, REGISTER_TIMEOUT_MS)
        .answer;
      if (res.status === 401) throw new Error(`bootstrap token rejected: ${res.text().slice(0, 200)}`);
      if (res.status < 200 || res.status >= 300) throw new Error(`register: ${res.status}`);
      node.token = (JSON.parse(res.text()) as RegisterResponse).token;
      timings.registered++;
    } catch {
      if (!stopped.now) await retry();
    }
  }
  while (!stopped.now) {
    const next = node.nextSync(Date.now());
    const waitMs = next.waitSeconds * 1000;
    const started = performance.now();
    const call: Call = next.beats
      ? http.postWithBeats(SYNC, node.token, next.body, next.beats, waitMs + 15_000)
      : http.post(SYNC, node.token, next.body, next.waitSeconds, waitMs + 15_000);
    // A pod due to "start" while the call is held: cut it then, as the agent's wake() does.
    const dueIn = waitMs > 0 ? node.reportDueIn(Date.now()) : Number.POSITIVE_INFINITY;
    let cutting = false;
    const timer =
      dueIn < waitMs
        ? setTimeout(() => {
            // As the agent's wake(): in the beat stream where the server takes it, no request.
            if (call.wake) {
              call.wake();
              timings.woken++;
              return;
            }
            // Else the server answers the held call now, on its connection (or
            // keeps the wake for it, when it is still on its way); cut it (a new connection
            // next) only when the server did neither.
            http
              .post(WAKE, node.token, '{}', 0, 5_000)
              .answer.then((r) => {
                const woke = r.status === 200 ? (JSON.parse(r.text()) as WakeResponse) : undefined;
                if (!woke || (woke.released === 0 && !woke.kept)) throw new Error();
                timings.woken++;
              })
              .catch(() => {
                cutting = true;
                call.cut();
              });
          }, dueIn)
        : undefined;
    try {
      const res = await call.answer;
      if (timer) clearTimeout(timer);
      if (res.status === 401) {
        node.token = '';
        return runNode(node, http, bootstrapToken, timings, stopped);
      }
      if (res.status < 200 || res.status >= 300) throw new SyncRefused(res.status);
      const ms = performance.now() - started;
      const { answer, parsed } = readSyncAnswer(res);
      timings.count++;
      timings.answerBytes += res.size;
      if (parsed) timings.parsed++;
      if (timings.recording) {
        if (waitMs === 0) {
          timings.latencies.push(ms);
          if (!call.reused()) timings.connectLatencies.push(ms);
        } else if (ms > waitMs + 1000) timings.heldLate++;
      }
      node.answered(answer, Date.now());
      backoff?.reset();
      if (node.syncAfterMs > 0) await sleep(Math.min(node.syncAfterMs, node.reportDueIn(Date.now())));
    } catch (err) {
      if (timer) clearTimeout(timer);
      if (stopped.now) return;
      if (cutting) {
        timings.cut++;
        node.cut();
        continue;
      }
      if (err instanceof BeatsUnhonouredError) {
        timings.unhonoured++;
        node.beatsRefused(Date.now());
        continue;
      }
      timings.failed++;
      // A sync that failed took at least this long: left out, the slowest would not count.
      if (timings.recording && waitMs === 0) timings.latencies.push(performance.now() - started);
      node.failed(err instanceof SyncRefused && err.status < 500);
      await retry(!(err instanceof SyncRefused) || err.status >= 500);
    }
  }
}

/** A sync the server answered with an error status (a 5xx counts as unreachable, as the agent's client has it). */
class SyncRefused extends Error {
  constructor(readonly status: number) {
    super(`sync: ${status}`);
  }
}
