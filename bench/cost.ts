/**
 * `npm run bench -- cost [--quick] [--nodes=10,100] [--window=60]`: what ferry's serverless
 * control plane costs a month, measured. The real Lambda entry points (functions/runtime/lambda.ts)
 * run over dynalite behind a metering proxy that counts every DynamoDB command, its bytes and its
 * request units; the API function sits behind an HTTP API adapter (one container per concurrent
 * request, durations measured); the controllers function runs on its schedule and on the table's
 * stream with serverless.yml's filter and batching; agents sync through the function URL when
 * serverless.yml gives them one (no HTTP API charge), users' requests go through the HTTP API. N simulated nodes run the real agent loop on
 * the in-memory runtime with ten pods each (Deployments of 100 replicas and a Service each, applied
 * through the API). Each cluster is
 * measured in a steady window (real time: the protocol's own intervals are honoured), in a status
 * round (every agent sends its periodic full node status, which it does every
 * nodeStatusUpdateSeconds: the steady window holds none, so its cost is added to the steady month
 * pro rata, and the passes it triggers are counted), during a rolling update, and while one node
 * dies (how long until it is NotReady and its pods are evicted and replaced), and projected to a
 * month at list prices (bench/cost/model.ts). 1,000 nodes are
 * extrapolated: from the per-node cost when the per-sync counts are flat from 10 to 100 nodes,
 * else along the line the per-sync counts follow.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { POLLED_SYNC } from '../functions/api/agent/modes';
import type { Lease, Node, Pod } from '../schemas';
import { Cluster, type Window } from './cost/cluster';
import { busyBetween } from './cost/controllers-function';
import { readDeployment } from './cost/deployment';
import {
  extrapolate,
  FORMULA,
  gbSeconds,
  MINUTES_PER_MONTH,
  type MonthlyCost,
  monthly,
  type PerMinute,
  type PerScheduled,
  PRICES,
} from './cost/model';
import { startFleet } from './lib/agents';
import { podCounts } from './lib/workload';
import { printTable, type Row, report, round } from './report';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = argv.includes('--quick');
const NODE_COUNTS = (flag('nodes') ?? '10,100').split(',').map(Number);
const WINDOW_S = Number(flag('window') ?? (QUICK ? 20 : 60));
/**
 * How long a rolling update may take before the bench stops waiting (it measures the rates
 * meanwhile either way). Not a goal: a rollout of 1,000 pods at maxSurge 25% is at least four
 * waves of creates, binds, starts and Ready reports, each behind a controllers pass that lists
 * the cluster (seconds on dynalite on 2 shared cores), so 60 s was as close to its duration as
 * to a limit; the bench reports the time it took and how much of it the controllers were busy.
 */
const ROLL_LIMIT_S = QUICK ? 60 : 180;
/** Today's controllers take minutes to start 1,000 pods on dynalite on 2 shared cores. */
const CONVERGE_LIMIT_S = 480;
const IDLE_WINDOW_S = QUICK ? 5 : 10;
/** Every agent's status goes out at its next sync: one quiet interval, and the batches after it. */
const STATUS_WINDOW_S = POLLED_SYNC.quietSyncSeconds + 10;
/** How long the bench waits for a dead node's pods to be replaced. */
const FAILURE_LIMIT_S = 150;
/** Full node status rounds per month: each agent sends one every nodeStatusUpdateSeconds. */
const STATUS_ROUNDS_PER_MONTH = (MINUTES_PER_MONTH * 60) / POLLED_SYNC.nodeStatusUpdateSeconds;
/** Per-sync counts within this ratio from 10 to 100 nodes count as flat. */
const FLAT_TOLERANCE = 0.1;
const NEW_IMAGE = 'ferry.local/app:2';
/** Ten pods per node, in Deployments of 100 replicas (one Service each): one app per ten nodes. */
const PODS_PER_NODE = 10;
const REPLICAS = 100;
const appsFor = (nodes: number) => Math.ceil((nodes * PODS_PER_NODE) / REPLICAS);

const deployment = readDeployment();
const perGbS = deployment.api.architecture === 'arm64' ? PRICES.lambdaPerGbSecondArm64 : PRICES.lambdaPerGbSecondX86;

interface Measured {
  nodes: number;
  phase: 'idle' | 'steady' | 'status' | 'rolling' | 'failure';
  window: Window;
  converged: boolean;
  seconds: number;
  containers: number;
  peakConcurrency: number;
  /** Controllers invocations so far that ran past the function's timeout (billed at the timeout). */
  controllerTimeouts: number;
}

/** One node's agent stopped: seconds until each step of its replacement was seen (null: not within the limit). */
interface Failure {
  nodes: number;
  notReadyAfterStopS: number | null;
  notReadyAfterLastRenewalS: number | null;
  evictedAfterStopS: number | null;
  replacedAfterStopS: number | null;
}
const failures: Failure[] = [];
/** Each rolling update's controllers timeline (controllers-function.ts: busyBetween). */
const rollouts: ({ nodes: number } & ReturnType<typeof busyBetween>)[] = [];

/** The agent sends its full node status at its next sync, as it does every nodeStatusUpdateSeconds. */
function statusDueNow(agent: unknown): void {
  (agent as { lastNodeStatusAt: number }).lastNodeStatusAt = Number.NEGATIVE_INFINITY;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(limitS: number, done: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + limitS * 1000;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await sleep(1000);
  }
  return false;
}

let lastProgress = 0;
/** A line every 15 s while a cluster converges, so a slow machine shows where it is. */
function progress(cluster: Cluster, what: string, counts: Record<string, number>): void {
  if (Date.now() - lastProgress < 15_000) return;
  lastProgress = Date.now();
  const s = cluster.controllers.stats.stream;
  console.log(
    `    ${what}: pods ${JSON.stringify(counts)}; ${cluster.http.stats.invocations} API calls, ${s.invocations} stream passes (${round(s.billedMs / Math.max(1, s.invocations))} ms each)`,
  );
}

async function measureCluster(endpoint: string, nodes: number, root: string): Promise<Measured[]> {
  const cluster = await Cluster.start(endpoint, `ferry-cost-${nodes}-${Date.now()}`, deployment);
  const out: Measured[] = [];
  const fleet = await (async () => {
    // The first scheduled pass cold-starts the controllers function, as the first minute would.
    await cluster.controllers.invokeSchedule();
    cluster.controllers.startSchedule(60_000 / deployment.schedulePerMinute);
    if (nodes === 0) return undefined;
    await cluster.admin.applyApps(appsFor(nodes), 4, REPLICAS);
    return startFleet({
      apiUrl: cluster.agentUrl,
      bootstrapToken: cluster.bootstrapToken,
      count: nodes,
      root: join(root, `n${nodes}`),
      rampMs: Math.min(10_000, nodes * 100),
    });
  })();
  try {
    const started = Date.now();
    const want = appsFor(nodes) * REPLICAS;
    const converged =
      nodes === 0 ||
      (await until(CONVERGE_LIMIT_S, async () => {
        const c = podCounts((await cluster.observer.list<Pod>('Pod')).items);
        progress(cluster, `${nodes} nodes starting`, c);
        return c.ready === want && c.total === want;
      }));
    const c = podCounts((await cluster.observer.list<Pod>('Pod')).items);
    console.log(
      `  ${nodes} nodes: ${converged ? 'converged' : 'NOT converged'} in ${round((Date.now() - started) / 1000)} s (${c.ready}/${want} pods Ready)`,
    );
    // Steady means quiet: after a change a polled node syncs every busySyncSeconds for
    // busyForSeconds (functions/api/agent/modes.ts), so the window starts once that is over and
    // one quiet interval more has passed; the start-up's last writes drain meanwhile.
    await sleep(nodes === 0 ? 0 : (POLLED_SYNC.busyForSeconds + POLLED_SYNC.quietSyncSeconds) * 1000);
    await cluster.controllers.drained(nodes === 0 ? 10_000 : 5000);

    const a = await cluster.snapshot();
    // Every window holds a scheduled pass (queued behind the pass under way, if any).
    void cluster.controllers.invokeSchedule();
    await sleep((nodes === 0 ? IDLE_WINDOW_S : WINDOW_S) * 1000);
    // Not waiting for the pass under way: a busy cluster's passes run up to the timeout.
    const b = await cluster.snapshot();
    out.push({
      nodes,
      phase: nodes === 0 ? 'idle' : 'steady',
      window: Cluster.window(a, b),
      converged,
      seconds: (b.at - a.at) / 1000,
      containers: b.containers,
      peakConcurrency: cluster.http.peakConcurrency,
      controllerTimeouts: cluster.controllers.timeouts,
    });

    if (nodes > 0 && fleet) {
      const s0 = await cluster.snapshot();
      for (const n of fleet.nodes) statusDueNow(n.agent);
      await sleep(STATUS_WINDOW_S * 1000);
      await cluster.controllers.drained(5000);
      const s1 = await cluster.snapshot();
      const w = Cluster.window(s0, s1);
      console.log(
        `  ${nodes} nodes: status round: ${w.stream.byMapping.stream?.invocations ?? 0} stream invocations, ${w.stream.passes} ran a pass (KEYS_ONLY would have run one in each)`,
      );
      out.push({
        nodes,
        phase: 'status',
        window: w,
        converged,
        seconds: (s1.at - s0.at) / 1000,
        containers: s1.containers,
        peakConcurrency: cluster.http.peakConcurrency,
        controllerTimeouts: cluster.controllers.timeouts,
      });
    }

    if (nodes > 0) {
      const r0 = await cluster.snapshot();
      await cluster.admin.rollApps(appsFor(nodes), NEW_IMAGE);
      const rolled = await until(ROLL_LIMIT_S, async () => {
        const p = podCounts((await cluster.observer.list<Pod>('Pod')).items, NEW_IMAGE);
        progress(cluster, `${nodes} nodes rolling`, p);
        return p.readyOnImage === want && p.total === want;
      });
      const r1 = await cluster.snapshot();
      const p = podCounts((await cluster.observer.list<Pod>('Pod')).items, NEW_IMAGE);
      const done = rolled || (p.readyOnImage === want && p.total === want);
      const busy = busyBetween(cluster.controllers.log, r0.at, r1.at, cluster.controllers.runningSince);
      rollouts.push({ nodes, ...busy });
      console.log(
        `  ${nodes} nodes: rolling update ${done ? 'done' : 'NOT done (rates measured while rolling)'} in ${round((r1.at - r0.at) / 1000)} s (${p.readyOnImage}/${want} pods Ready on the new image); controllers busy ${round(busy.busyShare * 100)}% of it, ${busy.passes} passes of ${busy.passSeconds.join(', ')} s${busy.runningAtEnd ? ' and one still running' : ''}`,
      );
      out.push({
        nodes,
        phase: 'rolling',
        window: Cluster.window(r0, r1),
        converged: done,
        seconds: (r1.at - r0.at) / 1000,
        containers: r1.containers,
        peakConcurrency: cluster.http.peakConcurrency,
        controllerTimeouts: cluster.controllers.timeouts,
      });
    }
    if (nodes > 0 && fleet) out.push(await killOneNode(cluster, fleet, nodes, want));
  } finally {
    await fleet?.stop();
    await cluster.close();
  }
  return out;
}

/**
 * Stops the last node's agent (its containers "keep running", as a dead agent's would) and watches,
 * through the uncounted observer, until its node is NotReady, its pods are gone, and every replica
 * is Ready again elsewhere.
 */
async function killOneNode(
  cluster: Cluster,
  fleet: Awaited<ReturnType<typeof startFleet>>,
  nodes: number,
  want: number,
): Promise<Measured> {
  const victim = fleet.nodes[fleet.nodes.length - 1] as (typeof fleet.nodes)[number];
  const f0 = await cluster.snapshot();
  const stoppedAt = Date.now();
  victim.agent.stop();
  const since = (at: number | undefined) => (at === undefined ? null : round((at - stoppedAt) / 1000));
  let notReadyAt: number | undefined;
  let evictedAt: number | undefined;
  let replacedAt: number | undefined;
  let lastRenewal: number | undefined;
  while (Date.now() - stoppedAt < FAILURE_LIMIT_S * 1000 && replacedAt === undefined) {
    await sleep(500);
    const node = await cluster.observer.get<Node>({ kind: 'Node', name: victim.name });
    const ready = node?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (ready !== 'True' && notReadyAt === undefined) {
      notReadyAt = Date.now();
      const lease = await cluster.observer.get<Lease>({
        kind: 'Lease',
        namespace: 'kube-node-lease',
        name: victim.name,
      });
      lastRenewal = Date.parse(lease?.spec?.renewTime ?? '') || undefined;
    }
    if (notReadyAt === undefined) continue;
    const pods = (await cluster.observer.list<Pod>('Pod')).items;
    if (evictedAt === undefined && !pods.some((p) => p.spec?.nodeName === victim.name)) evictedAt = Date.now();
    const c = podCounts(pods);
    if (evictedAt !== undefined && c.ready === want && c.total === want) replacedAt = Date.now();
  }
  const f1 = await cluster.snapshot();
  const failure: Failure = {
    nodes,
    notReadyAfterStopS: since(notReadyAt),
    notReadyAfterLastRenewalS:
      notReadyAt === undefined || lastRenewal === undefined ? null : round((notReadyAt - lastRenewal) / 1000),
    evictedAfterStopS: since(evictedAt),
    replacedAfterStopS: since(replacedAt),
  };
  failures.push(failure);
  console.log(
    `  ${nodes} nodes: one node's agent stopped: NotReady after ${failure.notReadyAfterStopS ?? 'NOT seen'} s (${failure.notReadyAfterLastRenewalS ?? '-'} s after its last Lease renewal), pods evicted after ${failure.evictedAfterStopS ?? 'NOT seen'} s, all ${want} Ready again after ${failure.replacedAfterStopS ?? `NOT within ${FAILURE_LIMIT_S}`} s`,
  );
  return {
    nodes,
    phase: 'failure',
    window: Cluster.window(f0, f1),
    converged: replacedAt !== undefined,
    seconds: (f1.at - f0.at) / 1000,
    containers: f1.containers,
    peakConcurrency: cluster.http.peakConcurrency,
    controllerTimeouts: cluster.controllers.timeouts,
  };
}

function perMinute(w: Window): PerMinute {
  const m = w.minutes;
  return {
    apiInvocations: w.http.invocations / m,
    httpApiRequests: w.http.httpApiRequests / m,
    apiGbS: gbSeconds(w.http.billedMs, deployment.api.memoryMb) / m,
    streamInvocations: w.stream.invocations / m,
    streamGbS: gbSeconds(w.stream.billedMs, deployment.controllers.memoryMb) / m,
    rru: (w.api.rru + w.stream.dynamo.rru) / m,
    wru: (w.api.wru + w.stream.dynamo.wru) / m,
  };
}

/**
 * One scheduled pass of this cluster, per invocation (each window queues one at its start; a
 * window where none finished uses its cluster's other window, else its own stream passes).
 */
function scheduledCost(m: Measured, all: Measured[]): PerScheduled {
  const same = all.filter((x) => x.nodes === m.nodes);
  const own = [m, ...same].find((x) => x.window.schedule.invocations > 0);
  // No scheduled pass finished (queued behind long stream passes): a pass is a pass, price it as
  // this window's average stream pass.
  const s = own ? own.window.schedule : m.window.stream;
  const n = s.invocations || 1;
  return {
    gbS: gbSeconds(s.billedMs, deployment.controllers.memoryMb) / n,
    rru: s.dynamo.rru / n,
    wru: s.dynamo.wru / n,
  };
}

function perSync(w: Window) {
  const n = w.syncs || 1;
  return {
    calls: w.api.calls / n,
    rru: w.api.rru / n,
    wru: w.api.wru / n,
    bytes: (w.api.requestBytes + w.api.responseBytes) / n,
  };
}

function costRow(
  label: string,
  nodes: number | string,
  m: Measured | undefined,
  cost: MonthlyCost,
  extra: Row = {},
): Row {
  const w = m?.window;
  const s = w ? perSync(w) : undefined;
  return {
    cluster: label,
    nodes,
    'min measured': w ? round(w.minutes) : '-',
    'syncs/node/min': w && m && m.nodes > 0 ? round(w.syncs / m.nodes / w.minutes) : '-',
    'ddb calls/sync': s && w?.syncs ? round(s.calls) : '-',
    'RRU/sync': s && w?.syncs ? round(s.rru) : '-',
    'WRU/sync': s && w?.syncs ? round(s.wru) : '-',
    'ctl inv/min': w ? round(w.stream.invocations / w.minutes + deployment.schedulePerMinute) : '-',
    'ctl passes/min': w ? round(w.stream.passes / w.minutes) : '-',
    ...extra,
    '$ lambda req': round(cost.lambdaRequests),
    '$ GB-s': round(cost.lambdaGbS),
    '$ HTTP API': round(cost.httpApi),
    '$ ddb reads': round(cost.dynamoReads),
    '$ ddb writes': round(cost.dynamoWrites),
    '$/month': round(cost.total),
  };
}

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const root = mkdtempSync(join(tmpdir(), 'ferry-cost-'));
const measured: Measured[] = [];
const benchStart = Date.now();
try {
  console.log(
    `serverless.yml: api ${deployment.api.memoryMb} MB ${deployment.api.architecture} (agents via ${deployment.agentsViaFunctionUrl ? 'its function URL' : 'the HTTP API'}), controllers ${deployment.controllers.memoryMb} MB, schedule ${deployment.schedulePerMinute}/min, stream batch ${deployment.stream?.batchSize} / ${deployment.stream?.batchWindowSeconds} s, ${deployment.stream?.filterPatterns.length ?? 0} filter pattern(s)`,
  );
  for (const n of [0, ...NODE_COUNTS]) measured.push(...(await measureCluster(endpoint, n, root)));
} finally {
  await new Promise((r) => server.close(() => r(undefined)));
  rmSync(root, { recursive: true, force: true });
}

const windowCost = (m: Measured) =>
  monthly(perMinute(m.window), scheduledCost(m, measured), deployment.schedulePerMinute, perGbS);
const COST_PARTS = ['lambdaRequests', 'lambdaGbS', 'httpApi', 'dynamoReads', 'dynamoWrites'] as const;
/**
 * A steady month: the steady window's rates, plus a status round every nodeStatusUpdateSeconds:
 * what the status round's window cost beyond the steady rates, once per round.
 */
const costOf = (m: Measured): MonthlyCost => {
  const base = windowCost(m);
  const status = m.phase === 'steady' ? measured.find((x) => x.phase === 'status' && x.nodes === m.nodes) : undefined;
  if (!status) return base;
  const r = windowCost(status);
  const perRound = status.window.minutes / MINUTES_PER_MONTH;
  const out = { ...base };
  for (const k of COST_PARTS) out[k] = base[k] + Math.max(0, r[k] - base[k]) * perRound * STATUS_ROUNDS_PER_MONTH;
  out.total = COST_PARTS.reduce((n, k) => n + out[k], 0);
  return out;
};
const idle = measured.find((m) => m.phase === 'idle') as Measured;
const steady = (n: number) => measured.find((m) => m.phase === 'steady' && m.nodes === n);
const LABELS: Record<Measured['phase'], string> = {
  idle: 'idle',
  steady: 'steady (+ status rounds)',
  status: 'status round*',
  rolling: 'rolling update*',
  failure: 'node failure*',
};
const rows: Row[] = [];
for (const m of measured) {
  rows.push(
    costRow(LABELS[m.phase], m.nodes, m, costOf(m), {
      converged: m.converged ? 'yes' : 'NO',
      'peak containers': m.peakConcurrency,
      'ctl timeouts': m.controllerTimeouts,
    }),
  );
}

// 1,000 nodes: from the two largest measured clusters.
const [small, large] = NODE_COUNTS.slice(-2).map(steady) as [Measured | undefined, Measured | undefined];
let n1000: MonthlyCost | undefined;
let rruPerSync1000: number | undefined;
let flat: Record<string, unknown> = { checked: false };
if (small && large && small.window.syncs > 0 && large.window.syncs > 0) {
  const a = perSync(small.window);
  const b = perSync(large.window);
  const ratio = {
    calls: b.calls / a.calls,
    rru: b.rru / a.rru,
    wru: b.wru / a.wru,
  };
  const isFlat = Object.values(ratio).every((r) => Math.abs(r - 1) <= FLAT_TOLERANCE);
  const target = 1000;
  n1000 = extrapolate(
    costOf(idle),
    { nodes: small.nodes, cost: costOf(small) },
    { nodes: large.nodes, cost: costOf(large) },
    target,
    isFlat,
  );
  rruPerSync1000 = isFlat ? b.rru : a.rru + ((b.rru - a.rru) * (target - small.nodes)) / (large.nodes - small.nodes);
  flat = {
    checked: true,
    from: small.nodes,
    to: large.nodes,
    perSync: { [`n${small.nodes}`]: a, [`n${large.nodes}`]: b },
    ratio,
    tolerance: FLAT_TOLERANCE,
    flat: isFlat,
    n1000: isFlat
      ? `flat: idle + 1,000 x the per-node cost at ${large.nodes} nodes`
      : `NOT flat: per-sync counts grow with N; per-node cost extrapolated along the line through ${small.nodes} and ${large.nodes} nodes (cost grows with N squared)`,
  };
  console.log(
    `flat check ${small.nodes} -> ${large.nodes} nodes: calls/sync x${round(ratio.calls)}, RRU/sync x${round(ratio.rru)}, WRU/sync x${round(ratio.wru)} => ${isFlat ? 'flat' : 'NOT flat'} (tolerance ${FLAT_TOLERANCE * 100}%)`,
  );
  rows.push(costRow('extrapolated', 1000, undefined, n1000, { converged: '-', 'peak containers': '-' }));
}

// Which calls dominate a sync (the largest cluster) and a controllers pass.
const breakdown = (w: Window | undefined, per: number) =>
  Object.entries(w?.api.byOp ?? {})
    .map(([op, s]) => ({ op, calls: s.calls / per, rru: s.rru / per, wru: s.wru / per, failed: s.failed / per }))
    .sort((x, y) => y.rru + y.wru - (x.rru + x.wru));
const largest = NODE_COUNTS.map(steady)
  .filter((m) => m !== undefined)
  .pop();
const syncBreakdown = breakdown(largest?.window, largest?.window.syncs || 1);
const passes = largest ? largest.window.stream.invocations || 1 : 1;
const passBreakdown = Object.entries(largest?.window.stream.dynamo.byOp ?? {})
  .map(([op, s]) => ({
    op,
    calls: s.calls / passes,
    rru: s.rru / passes,
    wru: s.wru / passes,
    failed: s.failed / passes,
  }))
  .sort((x, y) => y.rru + y.wru - (x.rru + x.wru));

console.log('\nper sync at the largest cluster (API function, DynamoDB):');
printTable(
  syncBreakdown
    .slice(0, 12)
    .map((r) => ({ op: r.op, 'calls/sync': round(r.calls), 'RRU/sync': round(r.rru), 'WRU/sync': round(r.wru) })),
);
console.log('\nper stream-triggered controllers pass at the largest cluster:');
printTable(
  passBreakdown
    .slice(0, 12)
    .map((r) => ({ op: r.op, 'calls/pass': round(r.calls), 'RRU/pass': round(r.rru), 'WRU/pass': round(r.wru) })),
);
const unpriced = measured.flatMap((m) => [
  ...Object.entries(m.window.api.unpriced),
  ...Object.entries(m.window.stream.dynamo.unpriced),
]);
if (unpriced.length)
  console.log(`\nWARNING: commands priced approximately: ${JSON.stringify(Object.fromEntries(unpriced))}`);
console.log(
  `\n* status round, rolling update and node failure rows: that window's rates, as $/month if sustained. Bench took ${round((Date.now() - benchStart) / 1000)} s.\n`,
);

const usd = (m: Measured | undefined) => (m ? costOf(m).total : null);
const rruSync = (m: Measured | undefined) => (m?.window.syncs ? perSync(m.window).rru : null);
report('cost', rows, {
  usdPerMonth: { idle: usd(idle), n10: usd(steady(10)), n100: usd(steady(100)), n1000: n1000?.total ?? null },
  readUnitsPerSync: { n10: rruSync(steady(10)), n100: rruSync(steady(100)), n1000: rruPerSync1000 ?? null },
  readUnitsPerSyncMeans: 'RRU the API function spends per agent sync (controllers passes are priced separately)',
  formula: FORMULA,
  prices: PRICES,
  deployment,
  scheduledInvocation: Object.fromEntries(
    measured
      .filter((m) => m.phase === 'idle' || m.phase === 'steady')
      .map((m) => [`n${m.nodes}`, scheduledCost(m, measured)]),
  ),
  flatCheck: flat,
  perSyncBreakdown: syncBreakdown,
  perPassBreakdown: passBreakdown,
  statusRounds: measured
    .filter((m) => m.phase === 'status')
    .map((m) => ({
      nodes: m.nodes,
      seconds: m.seconds,
      streamInvocations: m.window.stream.byMapping.stream?.invocations ?? 0,
      passes: m.window.stream.passes,
      // Every record the stream's filter lets through triggered a pass when the records had no images.
      passesSaved:
        (m.window.stream.byMapping.stream?.invocations ?? 0) - (m.window.stream.byMapping.stream?.passes ?? 0),
      roundsPerMonth: STATUS_ROUNDS_PER_MONTH,
    })),
  failureDetection: failures,
  rollingUpdates: measured
    .filter((m) => m.phase === 'rolling')
    .map((m) => ({
      nodes: m.nodes,
      seconds: m.seconds,
      done: m.converged,
      usd: (costOf(m).total * m.window.minutes) / 43_200,
      controllers: rollouts.find((r) => r.nodes === m.nodes),
    })),
  windows: measured.map((m) => ({
    nodes: m.nodes,
    phase: m.phase,
    seconds: m.seconds,
    syncs: m.window.syncs,
    api: m.window.http,
    apiDynamo: { ...m.window.api, byOp: undefined },
    stream: { ...m.window.stream, dynamo: { ...m.window.stream.dynamo, byOp: undefined } },
    schedule: { ...m.window.schedule, dynamo: { ...m.window.schedule.dynamo, byOp: undefined } },
  })),
});
