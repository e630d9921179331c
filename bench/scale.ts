/**
 * `npm run bench -- scale [--nodes=1000,2000,5000] [--seconds=60] [--all] [--profile=DIR]`: how many nodes the
 * local control plane holds. `ferry server` runs as a child process on its default store (SQLite),
 * so its CPU and resident memory are its own (read from /proc); N simulated nodes run the real
 * agent loop on the in-memory runtime in other child processes (bench/scale/agents-child.ts) with
 * ten pods per node (Deployments of 100 replicas applied through the API). For each N, for the
 * given seconds from the first agent's start: server CPU (cores), peak RSS, sync p50/p99 (syncs the
 * agent did not ask to be held), nodes that left Ready although every agent kept syncing (watched
 * through GET /api/v1/nodes every 5 s), and pods bound at the end. A node count that is not held
 * (a node left Ready, or p99 > 1 s) ends the run unless --all: larger counts would only load the
 * machine longer. Every child is stopped, by SIGKILL if need be.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyncTimings } from './lib/agents';
import { AdminClient } from './lib/workload';
import { type Row, report, round } from './report';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const NODE_COUNTS = (flag('nodes') ?? '1000,2000,5000').split(',').map(Number);
const SECONDS = Number(flag('seconds') ?? 60);
const ALL = argv.includes('--all');
/** `--profile=DIR`: the server writes a V8 CPU profile there when it stops (node --cpu-prof). */
const PROFILE_DIR = flag('profile');
const AGENTS_PER_CHILD = 2500;
const REPLICAS = 100;
const PODS_PER_NODE = 10;
const P99_LIMIT_MS = 1000;
/** The agents start over this long (machines do not boot in one instant). */
const RAMP_MS = 10_000;
/** The pod manager's reconcile tick: 5 s rather than 1 s, so 5,000 nodes fit the agents' processes. */
const AGENT_TICK_MS = 5000;
const ROOT = join(import.meta.dirname, '..');
const PROBE = join(import.meta.dirname, 'scale', 'loop-probe.ts');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds and RSS of a live process (undefined once it is gone). */
function procStat(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { cpuSeconds: ticks / 100, rssMb: Number(rss?.[1] ?? 0) / 1024 };
}

/**
 * The machine's TCP counters that show connections the server did not take in time: SYNs dropped
 * because the listen queue was full (ListenOverflows) and SYNs clients sent again (TCPSynRetrans,
 * 1 s, 3 s, 7 s... later): latency no process's CPU or event loop shows. Machine-wide: other work
 * adds to them too.
 */
function tcpCounters(): { listenOverflows: number; synRetrans: number } {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = (lines[i] ?? '').split(' ');
    const values = (lines[i + 1] ?? '').split(' ').map(Number);
    const get = (n: string) => values[names.indexOf(n)] ?? Number.NaN;
    return { listenOverflows: get('ListenOverflows'), synRetrans: get('TCPSynRetrans') };
  } catch {
    return { listenOverflows: Number.NaN, synRetrans: Number.NaN };
  }
}

interface Server {
  child: ChildProcess;
  url: string;
  token: string;
  /** The last lines it wrote to stderr, and how it ended if it did. */
  stderr(): string;
  exit?: string;
}

/** Event-loop delay of one process over the run, from loop-probe.ts's lines: the worst second and the 99th percentile of seconds. */
interface LoopDelay {
  worstMs: number;
  p99OfSecondsMs: number;
}

function loopDelay(file: string): LoopDelay {
  let lines: { maxMs: number }[] = [];
  try {
    lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { maxMs: number });
  } catch {}
  const maxes = lines.map((l) => l.maxMs).sort((a, b) => a - b);
  return { worstMs: maxes[maxes.length - 1] ?? Number.NaN, p99OfSecondsMs: percentile(maxes, 99) };
}

async function startServer(dataDir: string): Promise<Server> {
  const config = join(dataDir, 'cli-config.json');
  const child = spawn(
    process.execPath,
    [
      ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      '--import',
      'tsx',
      '--import',
      PROBE,
      join(ROOT, 'cli', 'main.ts'),
      'server',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--log-level',
      'error',
    ],
    {
      env: { ...process.env, FERRY_CONFIG: config, FERRY_LOOP_PROBE: join(dataDir, 'loop-server.jsonl') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ferry server did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve((m[1] as string).replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry server exited (${code}): ${stderr}`)));
  });
  await sleep(200);
  const token = (JSON.parse(readFileSync(config, 'utf8')) as { token: string }).token;
  const server: Server = { child, url, token, stderr: () => stderr };
  child.on('exit', (code, signal) => {
    server.exit = `exited with ${signal ?? `code ${code}`}`;
  });
  return server;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

type NodeList = {
  items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface Result {
  nodes: number;
  held: boolean;
  cpuCores: number;
  peakRssMb: number;
  syncP50Ms: number;
  syncP99Ms: number;
  syncs: number;
  heldLate: number;
  failedSyncs: number;
  registered: number;
  everReady: number;
  leftReady: number;
  podsBound: number;
  podsWanted: number;
  /** CPU of the simulated agents' processes together (cores): the fleet shares the machine with the server. */
  agentCores: number;
  serverLoop: LoopDelay;
  /** The worst of the agents' processes. */
  agentsLoop: LoopDelay;
  /** The machine's 1-minute load average at the end (other work on a shared machine shows here). */
  loadAverage: number;
  /** Connection attempts dropped by a full listen queue during the window, and SYNs sent again (machine-wide). */
  listenOverflows: number;
  synRetransmits: number;
  serverExit?: string;
}

async function measure(nodes: number): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-scale-'));
  const server = await startServer(dataDir);
  const children: ChildProcess[] = [];
  try {
    const admin = new AdminClient(server.url, server.token);
    const bootstrapToken = await admin.bootstrapToken();
    const pid = server.child.pid as number;
    const cpu0 = procStat(pid)?.cpuSeconds ?? 0;
    let cpuLast = cpu0;
    const started = Date.now();
    const tcp0 = tcpCounters();
    const agentCpu0 = 0; // the agents' processes start below: all their CPU is in the window
    const figures: Promise<SyncTimings>[] = [];
    for (let i = 0; i * AGENTS_PER_CHILD < nodes; i++) {
      const count = Math.min(AGENTS_PER_CHILD, nodes - i * AGENTS_PER_CHILD);
      const child = fork(join(import.meta.dirname, 'scale', 'agents-child.ts'), [], {
        execArgv: [
          ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, `agents-${i}`)}`] : []),
          ...['--import', 'tsx', '--import', PROBE],
        ],
        env: { ...process.env, FERRY_LOOP_PROBE: join(dataDir, `loop-agents-${i}.jsonl`) },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      children.push(child);
      figures.push(
        new Promise((resolve, reject) => {
          child.on('message', (m: { type: string; timings?: SyncTimings; message?: string }) => {
            if (m.type === 'figures' && m.timings) resolve(m.timings);
            if (m.type === 'error') reject(new Error(m.message));
          });
          child.on('exit', () => reject(new Error('agents child exited before sending its figures')));
        }),
      );
      child.send({
        type: 'start',
        apiUrl: server.url,
        bootstrapToken,
        count,
        prefix: `c${i}-node`,
        root: join(dataDir, `agents-${i}`),
        rampMs: RAMP_MS,
        tickMs: AGENT_TICK_MS,
      });
    }
    // The workload goes in while the nodes register, as `ferry apply` after `ferry up` would.
    const apps = Math.ceil((nodes * PODS_PER_NODE) / REPLICAS);
    const applied = admin.applyApps(apps, 4, REPLICAS).catch((err: unknown) => `apply failed: ${String(err)}`);

    const everReady = new Set<string>();
    const leftReady = new Set<string>();
    let registered = 0;
    let peakRssMb = 0;
    const deadline = started + SECONDS * 1000;
    while (Date.now() < deadline && !server.exit) {
      const now = procStat(pid);
      if (now) {
        peakRssMb = Math.max(peakRssMb, now.rssMb);
        cpuLast = now.cpuSeconds;
      }
      try {
        const list = await fetchJson<NodeList>(admin, '/api/v1/nodes', 10_000);
        registered = list.items.length;
        for (const n of list.items) {
          const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
          if (ready) everReady.add(n.metadata.name);
          else if (everReady.has(n.metadata.name)) leftReady.add(n.metadata.name);
        }
      } catch {
        // An API too busy to list nodes in 10 s is a figure too: the next sample tries again.
      }
      await sleep(Math.min(5000, Math.max(0, deadline - Date.now())));
    }
    const cpu1 = procStat(pid)?.cpuSeconds ?? cpuLast;
    const tcp1 = tcpCounters();
    const agentCpu1 = children.reduce((n, c) => n + (procStat(c.pid as number)?.cpuSeconds ?? 0), 0);
    if (server.exit) {
      console.log(
        `  ${nodes} nodes: ferry server ${server.exit} after ${round((Date.now() - started) / 1000)} s: ${server.stderr().slice(-600)}`,
      );
    }
    const wall = (Date.now() - started) / 1000;
    for (const c of children) c.send({ type: 'stop' });
    const timings = await Promise.all(figures.map((f) => Promise.race([f, sleep(30_000).then(() => undefined)])));
    const applyProblem = await Promise.race([applied, sleep(1000).then(() => 'apply still running at the end')]);
    if (typeof applyProblem === 'string') console.log(`  ${nodes} nodes: ${applyProblem}`);
    let podsBound = Number.NaN;
    try {
      const pods = await fetchJson<{ items: { spec?: { nodeName?: string } }[] }>(admin, '/api/v1/pods', 60_000);
      podsBound = pods.items.filter((p) => p.spec?.nodeName).length;
    } catch {}
    const latencies = timings.flatMap((t) => t?.latencies ?? []).sort((a, b) => a - b);
    const result: Result = {
      nodes,
      held: false,
      cpuCores: (cpu1 - cpu0) / wall,
      peakRssMb,
      syncP50Ms: percentile(latencies, 50),
      syncP99Ms: percentile(latencies, 99),
      syncs: timings.reduce((n, t) => n + (t?.count ?? 0), 0),
      heldLate: timings.reduce((n, t) => n + (t?.heldLate ?? 0), 0),
      failedSyncs: timings.reduce((n, t) => n + (t?.failed ?? 0), 0),
      registered,
      everReady: everReady.size,
      leftReady: leftReady.size,
      podsBound,
      podsWanted: apps * REPLICAS,
      agentCores: (agentCpu1 - agentCpu0) / wall,
      serverLoop: loopDelay(join(dataDir, 'loop-server.jsonl')),
      agentsLoop: children
        .map((_, i) => loopDelay(join(dataDir, `loop-agents-${i}.jsonl`)))
        .reduce((a, b) => (b.p99OfSecondsMs > a.p99OfSecondsMs ? b : a)),
      loadAverage: loadavg()[0] as number,
      listenOverflows: tcp1.listenOverflows - tcp0.listenOverflows,
      synRetransmits: tcp1.synRetrans - tcp0.synRetrans,
      ...(server.exit ? { serverExit: server.exit } : {}),
    };
    result.held =
      timings.every((t) => t !== undefined) &&
      registered === nodes &&
      everReady.size === nodes &&
      leftReady.size === 0 &&
      !server.exit &&
      result.syncP99Ms <= P99_LIMIT_MS;
    return result;
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 'SIGTERM', 10_000)));
    // A profiled server writes its profile as it exits: give it the time.
    await stopChild(server.child, 'SIGTERM', PROFILE_DIR ? 60_000 : 5000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function fetchJson<T>(admin: AdminClient, path: string, timeoutMs: number): Promise<T> {
  return Promise.race([
    admin.call<T>('GET', path),
    sleep(timeoutMs).then(() => {
      throw new Error(`GET ${path}: no answer in ${timeoutMs} ms`);
    }),
  ]);
}

const results: Result[] = [];
const rows: Row[] = [];
let stopAfter = false;
for (const n of NODE_COUNTS) {
  if (stopAfter) {
    rows.push({ nodes: n, held: 'skipped: a smaller count was not held (--all runs it)' });
    continue;
  }
  console.log(`  ${n} nodes for ${SECONDS} s ...`);
  const r = await measure(n);
  results.push(r);
  rows.push({
    nodes: n,
    held: r.held ? 'yes' : r.serverExit ? `NO (server ${r.serverExit})` : 'NO',
    'server cores': round(r.cpuCores),
    'peak RSS MB': round(r.peakRssMb),
    'sync p50 ms': round(r.syncP50Ms),
    'sync p99 ms': round(r.syncP99Ms),
    'server loop delay worst / p99 s ms': `${round(r.serverLoop.worstMs)} / ${round(r.serverLoop.p99OfSecondsMs)}`,
    'agent cores': round(r.agentCores),
    'agents loop delay worst / p99 s ms': `${round(r.agentsLoop.worstMs)} / ${round(r.agentsLoop.p99OfSecondsMs)}`,
    load: round(r.loadAverage),
    'listen drops / SYN resent': `${r.listenOverflows} / ${r.synRetransmits}`,
    syncs: r.syncs,
    'held syncs late': r.heldLate,
    'failed syncs': r.failedSyncs,
    registered: r.registered,
    'ever Ready': r.everReady,
    'left Ready': r.leftReady,
    'pods bound': Number.isNaN(r.podsBound) ? 'unknown' : `${r.podsBound}/${r.podsWanted}`,
  });
  if (!r.held && !ALL) stopAfter = true;
}
const heldResults = results.filter((r) => r.held);
const best = heldResults[heldResults.length - 1];
if (!best) console.log(`no node count was held (smallest tried: ${NODE_COUNTS[0]})`);
report('scale', rows, {
  nodesHeld: best?.nodes ?? 0,
  cpuCoresAtHeld: best?.cpuCores ?? null,
  falseNotReady: results.reduce((n, r) => n + r.leftReady, 0),
  seconds: SECONDS,
  heldMeans: `every node registered and Ready, none left Ready, sync p99 <= ${P99_LIMIT_MS} ms (syncs not asked to be held)`,
  results,
});
