/**
 * `npm run bench -- scale [--nodes=1000,2000,5000] [--seconds=60] [--all] [--sim=light|full]
 * [--per-child=2500] [--start-ms=10] [--calibrate] [--profile=DIR] [--keep-data]`: how many nodes the local
 * control plane holds. `ferry server` runs as a child process on its default store (SQLite), so
 * its CPU, resident memory and CPU wait are its own (read from /proc); N simulated nodes run in
 * other child processes (bench/scale/fleet.ts) with ten pods per node (Deployments of 100 replicas
 * applied through the API). The default simulator is the light one (bench/scale/light-fleet.ts:
 * the real protocol, tokens and keep-alive HTTP, no agent loop or pod manager per node);
 * `--sim=full` runs the real agent loop on the in-memory runtime (bench/lib/agents.ts);
 * `--calibrate` runs the light simulator alone against a canned control plane (scale/calibrate.ts).
 *
 * For each N, for the given seconds from the first node's start: server CPU (cores, and per sync),
 * peak RSS, sync p50/p99 at the client (syncs the simulator did not ask to be held) and at the
 * server (since the client sent it, and in its handler: bench/scale/server-probe.ts), the
 * simulator's CPU per sync and its event-loop delay, how long each process waited for a CPU, what
 * waited in the kernel for the server, nodes that left Ready (GET /api/v1/nodes every 5 s), and
 * pods bound and Running at the end. `held` is the issue's: every node registered and stayed
 * Ready, client sync p99 <= 1 s. A row whose simulator was itself behind (event loop delayed over
 * SIM_LOOP_LIMIT_MS in more than one second in twenty), or whose server was starved of CPU by the
 * machine, says so: its latency is not the server's alone. A count not held ends the run unless
 * --all. Every child is stopped, by SIGKILL if need be. `--keep-data` keeps each count's server
 * data directory (its SQLite file, syncs-server.jsonl, loop-server.jsonl) and prints where: what
 * the store holds after a run says what the server wrote (Nodes created, Tokens deleted, Events).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from './lib/workload';
import { type Row, report, round } from './report';
import { calibrate } from './scale/calibrate';
import { type ChildTimings, startFleetChildren } from './scale/fleet';
import { type LoopDelay, loopDelay, type ServerSyncs, serverSyncs } from './scale/probes';
import { percentile, procStat, type SocketQueues, sleep, socketQueues, stopChild, tcpCounters } from './scale/proc';
import { startServer } from './scale/server';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const NODE_COUNTS = (flag('nodes') ?? '1000,2000,5000').split(',').map(Number);
const SECONDS = Number(flag('seconds') ?? 60);
const ALL = argv.includes('--all');
const SIM = flag('sim') === 'full' ? 'full' : 'light';
/** `--profile=DIR`: the server (and the simulators) write a V8 CPU profile there when they stop. */
const PROFILE_DIR = flag('profile');
const KEEP_DATA = argv.includes('--keep-data');
const PER_CHILD = Number(flag('per-child') ?? 2500);
/** Light: a pod is reported Running this long after it arrives, cutting the held sync (the real agent on the in-memory runtime cuts it 1-15 ms after). */
const START_MS = Number(flag('start-ms') ?? 10);
const REPLICAS = 100;
const PODS_PER_NODE = 10;
const P99_LIMIT_MS = 1000;
/** A simulator process whose event loop was delayed more than this in over 5% of seconds was itself behind. */
const SIM_LOOP_LIMIT_MS = 100;
/** ...unless the client p99 is within this share of the server's since-sent p99 (of the 1 s limit at least): then its lateness did not move the figure. */
const SIM_SHARE_LIMIT = 0.1;
/** A server whose thread waited for a CPU more than this share of the time was starved by the machine. */
const STARVED = 0.1;
/** The nodes start over this long (machines do not boot in one instant). */
const RAMP_MS = 10_000;
/** Full: the pod manager's reconcile tick, 5 s rather than 1 s, so more nodes fit its processes. */
const AGENT_TICK_MS = 5000;

type NodeList = {
  items: {
    metadata: { name: string };
    status?: { conditions?: { type: string; status: string; reason?: string }[] };
  }[];
};

interface Result {
  nodes: number;
  sim: 'light' | 'full';
  held: boolean;
  /** Why not held, or that the simulator was behind, in words. */
  verdict: string;
  cpuCores: number;
  /** The server's CPU (all of it: controllers too) per sync it answered (µs). */
  serverCpuUsPerSync: number;
  peakRssMb: number;
  /** Client-side: syncs the simulator did not ask to be held, request start to response end. */
  syncP50Ms: number;
  syncP99Ms: number;
  /** Of those, the syncs that opened a connection (light): how many, and their p99. */
  connectSyncs: number;
  connectP99Ms: number;
  /** Server-side, the same syncs (light only): arrival to response end, in the server. */
  server: ServerSyncs;
  syncs: number;
  heldLate: number;
  failedSyncs: number;
  /** Held syncs cut to report a pod start (light; the full agent cuts them too, uncounted). */
  cutSyncs: number;
  /** Sync answers' bytes (light): what the route fan-out and pod lists cost the wire. */
  answerMb: number;
  registered: number;
  everReady: number;
  leftReady: number;
  /** Of those, how many by the Ready condition's reason (NodeStatusUnknown: the Lease; AgentDisconnected: a cut held sync). */
  leftReasons: Record<string, number>;
  podsBound: number;
  podsRunning: number;
  podsWanted: number;
  /** CPU of the simulator's processes together (cores): the fleet shares the machine with the server. */
  agentCores: number;
  /** The simulator's CPU per completed sync (µs): what one more node costs the bench. */
  simCpuUsPerSync: number;
  /**
   * The simulator's own share of the client p99: client p99 less the server's since-sent p99 (what
   * the client took to read answers the server had finished); NaN where the server's is not split.
   */
  simShareOfP99Ms: number;
  simSaturated: boolean;
  serverLoop: LoopDelay;
  /** The worst of the simulator's processes. */
  agentsLoop: LoopDelay;
  loadAverage: number;
  listenOverflows: number;
  synRetransmits: number;
  /**
   * Share of the window the server's JavaScript thread was runnable but waited for a CPU (other
   * work on the machine, the simulator included), and the same for the worst simulator process.
   */
  serverRunWait: number;
  simRunWait: number;
  /** The most that waited in the kernel for the server at one of the 1 s samples. */
  kernelQueues: SocketQueues;
  serverExit?: string;
}

async function fetchJson<T>(admin: AdminClient, path: string, timeoutMs: number): Promise<T> {
  return Promise.race([
    admin.call<T>('GET', path),
    sleep(timeoutMs).then(() => {
      throw new Error(`GET ${path}: no answer in ${timeoutMs} ms`);
    }),
  ]);
}

async function measure(nodes: number): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-scale-'));
  const server = await startServer(dataDir, PROFILE_DIR);
  let fleet: ReturnType<typeof startFleetChildren> | undefined;
  try {
    const admin = new AdminClient(server.url, server.token);
    const bootstrapToken = await admin.bootstrapToken();
    const pid = server.child.pid as number;
    const cpu0 = procStat(pid)?.cpuSeconds ?? 0;
    let cpuLast = cpu0;
    const started = Date.now();
    const tcp0 = tcpCounters();
    fleet = startFleetChildren({
      sim: SIM,
      nodes,
      perChild: PER_CHILD,
      apiUrl: server.url,
      bootstrapToken,
      dataDir,
      rampMs: RAMP_MS,
      tickMs: AGENT_TICK_MS,
      startMs: START_MS,
      ...(PROFILE_DIR ? { profileDir: PROFILE_DIR } : {}),
    });
    // The workload goes in while the nodes register, as `ferry apply` after `ferry up` would.
    const apps = Math.ceil((nodes * PODS_PER_NODE) / REPLICAS);
    const applied = admin.applyApps(apps, 4, REPLICAS).catch((err: unknown) => `apply failed: ${String(err)}`);

    const everReady = new Set<string>();
    const leftReady = new Set<string>();
    /** Why they left: the Ready condition's reason when first seen not Ready (Lease or disconnect). */
    const leftReasons: Record<string, number> = {};
    let registered = 0;
    let peakRssMb = 0;
    const kernelQueues: SocketQueues = { acceptQueue: 0, unreadConnections: 0, unreadBytes: 0 };
    const port = Number(new URL(server.url).port);
    // Every second, beside the node list (which can take seconds to answer): RSS, CPU, kernel queues.
    const sampler = setInterval(() => {
      const now = procStat(pid);
      if (now) {
        peakRssMb = Math.max(peakRssMb, now.rssMb);
        cpuLast = now.cpuSeconds;
      }
      const q = socketQueues(port);
      kernelQueues.acceptQueue = Math.max(kernelQueues.acceptQueue, q.acceptQueue);
      kernelQueues.unreadConnections = Math.max(kernelQueues.unreadConnections, q.unreadConnections);
      kernelQueues.unreadBytes = Math.max(kernelQueues.unreadBytes, q.unreadBytes);
    }, 1000);
    const wait0 = procStat(pid)?.runWaitSeconds ?? Number.NaN;
    const simWait0 = fleet.children.map((c) => procStat(c.pid as number)?.runWaitSeconds ?? Number.NaN);
    const deadline = started + SECONDS * 1000;
    while (Date.now() < deadline && !server.exit) {
      try {
        const list = await fetchJson<NodeList>(admin, '/api/v1/nodes', 10_000);
        registered = list.items.length;
        for (const n of list.items) {
          const condition = n.status?.conditions?.find((c) => c.type === 'Ready');
          if (condition?.status === 'True') everReady.add(n.metadata.name);
          else if (everReady.has(n.metadata.name) && !leftReady.has(n.metadata.name)) {
            leftReady.add(n.metadata.name);
            const reason = condition?.reason ?? 'none';
            leftReasons[reason] = (leftReasons[reason] ?? 0) + 1;
          }
        }
      } catch {
        // An API too busy to list nodes in 10 s is a figure too: the next sample tries again.
      }
      await sleep(Math.min(5000, Math.max(0, deadline - Date.now())));
    }
    clearInterval(sampler);
    const windowEnd = Date.now();
    const end = procStat(pid);
    const cpu1 = end?.cpuSeconds ?? cpuLast;
    const simWait = fleet.children.map(
      (c, i) => (procStat(c.pid as number)?.runWaitSeconds ?? Number.NaN) - (simWait0[i] as number),
    );
    const tcp1 = tcpCounters();
    if (server.exit) {
      console.log(
        `  ${nodes} nodes: ferry server ${server.exit} after ${round((windowEnd - started) / 1000)} s: ${server.stderr().slice(-600)}`,
      );
    }
    const wall = (windowEnd - started) / 1000;
    const timings = await fleet.figures();
    const simCpu = timings.reduce((n, t) => n + (t?.cpuSeconds ?? 0), 0);
    const applyProblem = await Promise.race([applied, sleep(1000).then(() => 'apply still running at the end')]);
    if (typeof applyProblem === 'string') console.log(`  ${nodes} nodes: ${applyProblem}`);
    const pods = await podsAtEnd(admin);
    return judge({
      nodes,
      timings,
      registered,
      everReady: everReady.size,
      leftReady: leftReady.size,
      leftReasons,
      ...pods,
      podsWanted: apps * REPLICAS,
      cpuCores: (cpu1 - cpu0) / wall,
      peakRssMb,
      agentCores: simCpu / wall,
      simCpuSeconds: simCpu,
      wallSeconds: wall,
      server: serverSyncs(join(dataDir, 'syncs-server.jsonl'), windowEnd),
      serverLoop: loopDelay(join(dataDir, 'loop-server.jsonl'), windowEnd),
      agentsLoop: fleet.loopFiles
        .map((f) => loopDelay(f, windowEnd))
        .reduce((a, b) => (b.p95OfSecondsMs > a.p95OfSecondsMs ? b : a)),
      listenOverflows: tcp1.listenOverflows - tcp0.listenOverflows,
      synRetransmits: tcp1.synRetrans - tcp0.synRetrans,
      kernelQueues,
      serverRunWait: ((end?.runWaitSeconds ?? Number.NaN) - wait0) / wall,
      simRunWait: Math.max(...simWait) / wall,
      ...(server.exit ? { serverExit: server.exit } : {}),
    });
  } finally {
    await fleet?.stop();
    // A profiled server writes its profile as it exits: give it the time.
    await stopChild(server.child, 'SIGTERM', PROFILE_DIR ? 60_000 : 5000);
    if (KEEP_DATA) console.log(`  ${nodes} nodes: server data kept in ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

async function podsAtEnd(admin: AdminClient): Promise<{ podsBound: number; podsRunning: number }> {
  try {
    const pods = await fetchJson<{ items: { spec?: { nodeName?: string }; status?: { phase?: string } }[] }>(
      admin,
      '/api/v1/pods',
      60_000,
    );
    return {
      podsBound: pods.items.filter((p) => p.spec?.nodeName).length,
      podsRunning: pods.items.filter((p) => p.status?.phase === 'Running').length,
    };
  } catch {
    return { podsBound: Number.NaN, podsRunning: Number.NaN };
  }
}

type Measured = Omit<
  Result,
  | 'held'
  | 'verdict'
  | 'sim'
  | 'syncP50Ms'
  | 'syncP99Ms'
  | 'connectSyncs'
  | 'connectP99Ms'
  | 'syncs'
  | 'heldLate'
  | 'failedSyncs'
  | 'cutSyncs'
  | 'answerMb'
  | 'simCpuUsPerSync'
  | 'serverCpuUsPerSync'
  | 'simSaturated'
  | 'simShareOfP99Ms'
  | 'loadAverage'
> & { timings: (ChildTimings | undefined)[]; simCpuSeconds: number; wallSeconds: number };

/** The issue's verdict (every node Ready, client sync p99 <= 1 s), and whether the simulator was behind. */
function judge(m: Measured): Result {
  const { timings, simCpuSeconds, wallSeconds, ...rest } = m;
  const latencies = timings.flatMap((t) => t?.latencies ?? []).sort((a, b) => a - b);
  const syncs = timings.reduce((n, t) => n + (t?.count ?? 0), 0);
  const connects = timings.flatMap((t) => t?.connectLatencies ?? []).sort((a, b) => a - b);
  const r: Result = {
    ...rest,
    sim: SIM,
    held: false,
    verdict: '',
    syncP50Ms: percentile(latencies, 50),
    syncP99Ms: percentile(latencies, 99),
    connectSyncs: connects.length,
    connectP99Ms: percentile(connects, 99),
    syncs,
    heldLate: timings.reduce((n, t) => n + (t?.heldLate ?? 0), 0),
    failedSyncs: timings.reduce((n, t) => n + (t?.failed ?? 0), 0),
    cutSyncs: timings.reduce((n, t) => n + (t?.cut ?? 0), 0),
    answerMb: timings.reduce((n, t) => n + (t?.answerBytes ?? 0), 0) / 2 ** 20,
    simCpuUsPerSync: syncs > 0 ? (simCpuSeconds / syncs) * 1e6 : Number.NaN,
    serverCpuUsPerSync:
      ((m.cpuCores * m.wallSeconds) / (m.server.answered + m.server.held + m.server.unclassified)) * 1e6,
    simShareOfP99Ms: Number.NaN,
    simSaturated: false,
    loadAverage: loadavg()[0] as number,
  };
  r.simShareOfP99Ms = r.syncP99Ms - r.server.sinceSentP99Ms;
  // Behind: its loop was late, and (where the server's figure is split) that lateness moved the p99.
  r.simSaturated =
    m.agentsLoop.p95OfSecondsMs > SIM_LOOP_LIMIT_MS &&
    !(r.simShareOfP99Ms <= SIM_SHARE_LIMIT * Math.max(r.syncP99Ms, P99_LIMIT_MS));
  const why: string[] = [];
  if (timings.some((t) => t === undefined)) why.push('a simulator process sent no figures');
  if (r.serverExit) why.push(`server ${r.serverExit}`);
  if (r.registered < r.nodes) why.push(`${r.registered} of ${r.nodes} registered`);
  if (r.everReady < r.nodes) why.push(`${r.everReady} ever Ready`);
  if (r.leftReady > 0)
    why.push(
      `${r.leftReady} left Ready (${Object.entries(r.leftReasons)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );
  if (!(r.syncP99Ms <= P99_LIMIT_MS)) why.push(`client sync p99 ${round(r.syncP99Ms)} ms`);
  r.held = why.length === 0;
  const notes: string[] = [];
  if (r.simSaturated)
    notes.push(
      `simulator behind (event loop p95 of seconds ${round(r.agentsLoop.p95OfSecondsMs)} ms > ${SIM_LOOP_LIMIT_MS} ms, its share of the p99 ${round(r.simShareOfP99Ms)} ms): latency not the server's alone`,
    );
  if (r.serverRunWait > STARVED)
    notes.push(
      `the server's thread waited for a CPU ${Math.round(r.serverRunWait * 100)}% of the time (the machine is busy): its latency is partly the machine's`,
    );
  r.verdict = [r.held ? 'held' : `not held: ${why.join(', ')}`, ...notes].join('; ');
  return r;
}

/** `--calibrate`: the light simulator alone against a canned control plane (bench/scale/calibrate.ts), into scale-calibrate.json. */
async function calibrateAll(): Promise<void> {
  const measured = [];
  for (const n of NODE_COUNTS) {
    console.log(`  ${n} light nodes against the canned control plane for ${SECONDS} s ...`);
    measured.push(await calibrate(n, SECONDS, PER_CHILD, START_MS, RAMP_MS));
  }
  report(
    'scale-calibrate',
    measured.map((c) => ({
      nodes: c.nodes,
      'syncs / node / min': round(c.syncsPerNodeMinute),
      'sim cores': round(c.simCores),
      'sim µs/sync': round(c.simCpuUsPerSync),
      'sim cores / 1,000 nodes': round(c.simCoresPer1000Nodes),
      'sim loop worst / p95 s ms': `${round(c.simLoop.worstMs)} / ${round(c.simLoop.p95OfSecondsMs)}`,
      'sim CPU wait %': Math.round(c.simRunWait * 100),
      'canned server cores': round(c.cannedServerCores),
      'failed / cut syncs': `${c.failed} / ${c.cut}`,
    })),
    { perChild: PER_CHILD, load: loadavg()[0], results: measured },
  );
}

const results: Result[] = [];
const rows: Row[] = [];
let stopAfter = false;
if (argv.includes('--calibrate')) {
  await calibrateAll();
  process.exit(0);
}
for (const n of NODE_COUNTS) {
  if (stopAfter) {
    rows.push({ nodes: n, held: 'skipped: a smaller count was not held (--all runs it)' });
    continue;
  }
  console.log(`  ${n} nodes for ${SECONDS} s (${SIM} simulator) ...`);
  const r = await measure(n);
  results.push(r);
  console.log(`  ${n} nodes: ${r.verdict}`);
  rows.push({
    nodes: n,
    held: r.held
      ? 'yes'
      : r.simSaturated
        ? 'NO (simulator behind)'
        : r.serverRunWait > STARVED
          ? 'NO (server starved of CPU)'
          : 'NO',
    'server cores': round(r.cpuCores),
    'server µs/sync': round(r.serverCpuUsPerSync),
    'sim cores': round(r.agentCores),
    'sim µs/sync': round(r.simCpuUsPerSync),
    'peak RSS MB': round(r.peakRssMb),
    'client sync p50 / p99 ms': `${round(r.syncP50Ms)} / ${round(r.syncP99Ms)}`,
    'on a new connection: syncs, p99 ms': `${r.connectSyncs}, ${round(r.connectP99Ms)}`,
    'server sync p50 / p99 ms: since sent': `${round(r.server.sinceSentP50Ms)} / ${round(r.server.sinceSentP99Ms)}`,
    'handler only': `${round(r.server.p50Ms)} / ${round(r.server.p99Ms)}`,
    'server loop worst / p99 s ms': `${round(r.serverLoop.worstMs)} / ${round(r.serverLoop.p99OfSecondsMs)}`,
    'sim loop worst / p95 s ms': `${round(r.agentsLoop.worstMs)} / ${round(r.agentsLoop.p95OfSecondsMs)}`,
    "sim's share of p99 ms": round(r.simShareOfP99Ms),
    load: round(r.loadAverage),
    'CPU wait server / sim %': `${Math.round(r.serverRunWait * 100)} / ${Math.round(r.simRunWait * 100)}`,
    'listen drops / SYN resent': `${r.listenOverflows} / ${r.synRetransmits}`,
    'kernel: unaccepted / unread conns (max)': `${r.kernelQueues.acceptQueue} / ${r.kernelQueues.unreadConnections}`,
    syncs: r.syncs,
    'failed / cut syncs': `${r.failedSyncs} / ${r.cutSyncs}`,
    'answers MB': round(r.answerMb),
    registered: r.registered,
    'ever Ready': r.everReady,
    'left Ready': r.leftReady,
    'pods bound / Running': Number.isNaN(r.podsBound)
      ? 'unknown'
      : `${r.podsBound} / ${r.podsRunning} of ${r.podsWanted}`,
  });
  if (!r.held && !ALL) stopAfter = true;
}
const heldResults = results.filter((r) => r.held);
const best = heldResults[heldResults.length - 1];
if (!best) console.log(`no node count was held (smallest tried: ${NODE_COUNTS[0]})`);
const largest = results[results.length - 1];
report('scale', rows, {
  nodesHeld: best?.nodes ?? 0,
  cpuCoresAtHeld: best?.cpuCores ?? null,
  falseNotReady: results.reduce((n, r) => n + r.leftReady, 0),
  seconds: SECONDS,
  simulator: SIM,
  heldMeans: `every node registered and Ready, none left Ready, client-side sync p99 <= ${P99_LIMIT_MS} ms (syncs the simulator did not ask to be held)`,
  verdictLatency: 'client-side sync p99; the server-side p99 (arrival to response end) is shown beside it',
  simSaturatedMeans: `the simulator's event loop was delayed more than ${SIM_LOOP_LIMIT_MS} ms in over 5% of seconds, and the client p99 exceeds the server's since-sent p99 by more than ${SIM_SHARE_LIMIT * 100}% (of the 1 s limit at least), or the server's is not split`,
  cpuWaitMeans:
    "share of the window a process's JavaScript thread was runnable but waited for a CPU (/proc/PID/schedstat): other work on the machine",
  // What the simulator costs a node, from the largest count run: what 5,000 nodes would ask of it.
  simCoresPer1000Nodes: largest ? (largest.agentCores / largest.nodes) * 1000 : null,
  results,
});
