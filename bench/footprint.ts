/**
 * `npm run bench -- footprint` (Docker needed for the cluster and Swarm parts): what a user's
 * machine pays for ferry.
 *  (a) CLI start: median of 10 runs of `ferry version --client`, `ferry get pods` (against the
 *      cluster below) and `ferry apply --dry-run`, against `node -e 0` in the same run;
 *  (b) resident memory of `ferry up --nodes 3` (the control plane process) and of each agent:
 *      idle, at 30 pods, and after ROUNDS rounds of update (a rolling update) + scale 30 -> 10 ->
 *      30, with the growth per round (least-squares slope);
 *  (c) the same create / rolling update / scale / replacement on Docker Swarm (`docker swarm init`
 *      on loopback, left afterwards), beside ferry's times, and dockerd's memory growth.
 * FOOTPRINT_ROUNDS (default 4) sets the rounds. Everything is bounded in time and cleaned up.
 *
 * `--churn-minutes=M` (the hour of churn, issue 19): after the same start, repeats the rounds for M
 * minutes with a pause of `--churn-pause-seconds` (default 45) between them, samples each
 * agent's RSS every minute, and writes bench/results/footprint-hour.json (start, every 5 minutes,
 * end, max, growth per hour). It skips Swarm and runs without the Docker lock for its hour, so its
 * cluster keeps out of others' way: its own data dir and API port, and node addresses from
 * 127.0.1.200 (`--first-address=N` moves them; `ferry up --first-address`; e2e and other clusters
 * allocate from 127.0.1.1).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOnce } from '../test/e2e/helpers/cluster';
import { slope } from './lib/stats';
import { type Row, report } from './report';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli.js');
const ROUNDS = Number(process.env.FOOTPRINT_ROUNDS ?? 4);
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const CHURN_MINUTES = Number(flag('churn-minutes') ?? 0);
const CHURN_PAUSE_MS = Number(flag('churn-pause-seconds') ?? 45) * 1000;
if (!(CHURN_MINUTES >= 0 && CHURN_PAUSE_MS >= 0))
  throw new Error('--churn-minutes and --churn-pause-seconds take numbers');
/**
 * A diagnosis aid: FOOTPRINT_HEAP_SNAPSHOTS=DIR has the first agent write a V8 heap snapshot into
 * DIR at the start and the end of the churn (they perturb its RSS: not for the figures).
 */
const SNAPSHOTS = process.env.FOOTPRINT_HEAP_SNAPSHOTS;
/** Far from where e2e clusters and `ferry up` start (127.0.1.1). */
const CHURN_FIRST_ADDRESS = Number(flag('first-address') ?? 200);
const IMAGE = 'ferry.local/busybox:1';
const CMD = ['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'];
const dir = mkdtempSync(join(tmpdir(), 'ferry-footprint-'));
const env = { ...process.env, FERRY_CONFIG: join(dir, 'config.json') };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => kb / 1024;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** The anonymous part of a process's RSS (heap and malloc; the rest is the binary's file pages), in kB. */
function anonKb(pid: number): number {
  const m = /Anonymous:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

function timeMs(cmd: string, args: string[]): number {
  const t0 = performance.now();
  execFileSync(cmd, args, { env, stdio: 'ignore' });
  return performance.now() - t0;
}

function ferry(...args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<number> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
  return performance.now() - t0;
}

/** Agent processes started by the `ferry up` process (the local provider's children). */
function agentPids(dataDir: string): number[] {
  return readdirSync(join(dataDir, 'nodes')).flatMap((n) => {
    try {
      return [JSON.parse(readFileSync(join(dataDir, 'nodes', n, 'instance.json'), 'utf8')).pid as number];
    } catch {
      return [];
    }
  });
}

interface PodView {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { phase?: string; containerStatuses?: { ready?: boolean; restartCount?: number }[] };
}

function pods(prefix: string): PodView[] {
  return (JSON.parse(ferry('get', 'pods', '-o', 'json')) as { items: PodView[] }).items.filter((p) =>
    p.metadata.name.startsWith(prefix),
  );
}

function runningPods(prefix: string): number {
  return pods(prefix).filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.phase === 'Running' &&
      p.status.containerStatuses?.every((c) => c.ready),
  ).length;
}

function allPods(prefix: string): number {
  return pods(prefix).length;
}

function restarts(prefix: string): number {
  return pods(prefix).reduce((n, p) => n + (p.status?.containerStatuses?.[0]?.restartCount ?? 0), 0);
}

function deploymentYaml(replicas: number, round: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: fp, namespace: default }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: fp } }
  template:
    metadata: { labels: { app: fp } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: ${IMAGE}
          command: ${JSON.stringify(CMD)}
          env: [{ name: ROUND, value: "${round}" }]
          resources: { requests: { cpu: 10m, memory: 8Mi } }
`;
}

function applyDeployment(replicas: number, round: number): void {
  const file = join(dir, 'fp.yaml');
  writeFileSync(file, deploymentYaml(replicas, round));
  ferry('apply', '-f', file);
}

interface OpTimes {
  create10: number;
  scale10to30: number;
  update30: number;
  replace1: number;
}

async function ferryOps(): Promise<{ times: OpTimes; rss: Row[]; summary: Record<string, number> }> {
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const up: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      'up',
      '--nodes',
      '3',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      ...(CHURN_MINUTES > 0 ? ['--first-address', String(CHURN_FIRST_ADDRESS)] : []),
    ],
    {
      // Agents inherit it: each writes a heap snapshot into SNAPSHOTS on SIGUSR2 (see churn()).
      env: SNAPSHOTS ? { ...env, NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } : env,
      ...(SNAPSHOTS ? { cwd: SNAPSHOTS } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let upOut = '';
  // Kept only as far as the start needs (the cluster id, Ready): an hour's warnings would pile up.
  const keep = (d: Buffer) => {
    if (upOut.length < 64 * 1024) upOut += d;
  };
  up.stdout?.on('data', keep);
  up.stderr?.on('data', keep);
  try {
    await until('3 nodes Ready', 90_000, () => upOut.includes('node(s) Ready'));
    const plane = up.pid as number;
    const agents = agentPids(dataDir);
    await sleep(5_000);
    const rss: Row[] = [];
    const sample = (state: string) => {
      const a = agents.map(rssKb);
      const row = {
        state,
        'control plane MB': mb(rssKb(plane)),
        'agents MB (each)': a.map((k) => mb(k).toFixed(1)).join(' / '),
        'agents MB (max)': mb(Math.max(...a)),
      };
      rss.push(row);
      return row;
    };
    sample('idle, 3 nodes, 0 pods');

    const times = {} as OpTimes;
    let t0 = performance.now();
    applyDeployment(10, 0);
    await until('10 Running', 120_000, () => runningPods('fp-') === 10);
    times.create10 = performance.now() - t0;
    t0 = performance.now();
    applyDeployment(30, 0);
    await until('30 Running', 180_000, () => runningPods('fp-') === 30);
    times.scale10to30 = performance.now() - t0;
    await sleep(5_000);
    sample('30 pods');

    const cliRows = cliStart();

    t0 = performance.now();
    applyDeployment(30, 1);
    ferry('rollout', 'status', 'deployment/fp', '--timeout', '5m');
    await until('30 Running after update', 180_000, () => runningPods('fp-') === 30 && allPods('fp-') === 30);
    times.update30 = performance.now() - t0;

    // Replacement: kill one pod's app container behind ferry's back; the agent restarts it. Only
    // this cluster's (its id labels them): another cluster on the machine may be running tests.
    const clusterId = /\(cluster ([a-z0-9]+)\)/.exec(upOut)?.[1];
    if (!clusterId) throw new Error(`no cluster id in the output of ferry up: ${upOut}`);
    const victim = execFileSync(
      'docker',
      [
        'ps',
        '-q',
        '--filter',
        `label=ferry.cluster=${clusterId}`,
        '--filter',
        'label=ferry.role=container',
        '--filter',
        'label=ferry.pod.namespace=default',
      ],
      {
        encoding: 'utf8',
      },
    )
      .split('\n')
      .filter(Boolean)[0] as string;
    t0 = performance.now();
    execFileSync('docker', ['kill', victim], { stdio: 'ignore' });
    await until('the killed container replaced', 60_000, () => {
      const running = execFileSync('docker', ['ps', '-q', '--no-trunc', '--filter', `id=${victim}`], {
        encoding: 'utf8',
      });
      return running.trim() === '' && runningPods('fp-') === 30;
    });
    await until('a restarted container', 60_000, () => restarts('fp-') >= 1 && runningPods('fp-') === 30);
    times.replace1 = performance.now() - t0;

    if (CHURN_MINUTES > 0) churnResult = await churn(plane, agents);
    const planeSeries: number[] = [];
    const agentSeries: number[] = [];
    for (let r = 2; r < 2 + (CHURN_MINUTES > 0 ? 0 : ROUNDS); r++) {
      await churnRound(r);
      await sleep(2_000);
      const row = sample(`after round ${r - 1} (update + scale 30-10-30)`);
      planeSeries.push(row['control plane MB']);
      agentSeries.push(row['agents MB (max)']);
    }
    return {
      times,
      rss: [...rss, ...cliRows],
      summary: {
        controlPlaneIdleMB: rss[0]?.['control plane MB'] as number,
        controlPlaneAt30PodsMB: rss[1]?.['control plane MB'] as number,
        agentMaxAt30PodsMB: rss[1]?.['agents MB (max)'] as number,
        controlPlaneGrowthMBPerRound: slope(planeSeries),
        agentGrowthMBPerRound: slope(agentSeries),
        agentMaxAfterRoundsMB: agentSeries.at(-1) ?? Number.NaN,
      },
    };
  } finally {
    up.kill('SIGINT');
    await until('ferry up stopped', 30_000, () => up.exitCode !== null || up.signalCode !== null).catch(() =>
      up.kill('SIGKILL'),
    );
    try {
      ferry('down', '--data-dir', dataDir);
    } catch {}
  }
}

/** One round: a rolling update of the 30, then scale 30 -> 10 -> 30. */
async function churnRound(r: number): Promise<void> {
  applyDeployment(30, r);
  ferry('rollout', 'status', 'deployment/fp', '--timeout', '5m');
  applyDeployment(10, r);
  await until('scaled to 10', 120_000, () => allPods('fp-') === 10);
  applyDeployment(30, r);
  await until('scaled to 30', 180_000, () => runningPods('fp-') === 30);
}

interface ChurnResult {
  rows: Row[];
  summary: Record<string, unknown>;
}
let churnResult: ChurnResult | undefined;

/**
 * The long churn: rounds with a pause between them for CHURN_MINUTES, each agent's RSS sampled
 * every minute (and after each round, into the max). A round that times out on a loaded machine
 * is counted and the churn goes on; three in a row end it.
 */
async function churn(plane: number, agents: number[]): Promise<ChurnResult> {
  const t0 = performance.now();
  const end = t0 + CHURN_MINUTES * 60_000;
  const minutes = () => (performance.now() - t0) / 60_000;
  const series: { min: number; agents: number[]; anon: number[]; plane: number }[] = [];
  const take = () => {
    const s = {
      min: minutes(),
      agents: agents.map((p) => mb(rssKb(p))),
      anon: agents.map((p) => mb(anonKb(p))),
      plane: mb(rssKb(plane)),
    };
    series.push(s);
    console.log(
      `churn ${s.min.toFixed(1)} min: agents ${s.agents.map((a) => a.toFixed(1)).join(' / ')} MB (anonymous ${s.anon.map((a) => a.toFixed(1)).join(' / ')}), control plane ${s.plane.toFixed(1)} MB, rounds ${rounds}`,
    );
    return s;
  };
  let rounds = 0;
  let failed = 0;
  let failedInARow = 0;
  const snapshot = async () => {
    if (!SNAPSHOTS || agents[0] === undefined) return;
    process.kill(agents[0], 'SIGUSR2');
    await sleep(15_000);
  };
  await snapshot();
  take();
  let nextSample = 1;
  while (performance.now() < end && failedInARow < 3) {
    try {
      await churnRound(100 + rounds);
      rounds++;
      failedInARow = 0;
    } catch (err) {
      failed++;
      failedInARow++;
      console.warn(`churn round failed (${failed} so far): ${(err as Error).message}`);
    }
    take();
    const pauseEnd = Math.min(end, performance.now() + CHURN_PAUSE_MS);
    while (performance.now() < pauseEnd) {
      await sleep(Math.min(5_000, pauseEnd - performance.now()));
      if (minutes() >= nextSample) {
        take();
        nextSample = Math.floor(minutes()) + 1;
      }
    }
  }
  await snapshot();
  const last = take();
  const first = series[0] as (typeof series)[number];
  const perAgent = (i: number) => series.map((s) => s.agents[i] as number);
  const hours = series.map((s) => s.min / 60);
  const rows: Row[] = [];
  // Start, each 5 minutes (the first sample at or past the mark), end.
  for (let m = 0; m <= CHURN_MINUTES; m += 5) {
    const s = series.find((x) => x.min >= m);
    if (!s || (m > 0 && s === last)) continue;
    rows.push(churnRow(m === 0 ? 'churn start' : `churn ${m} min`, s));
  }
  rows.push(churnRow(`churn end (${last.min.toFixed(1)} min, ${rounds} rounds)`, last));
  const growth = agents.map((_, i) => slope(perAgent(i), hours));
  const max = agents.map((_, i) => Math.max(...perAgent(i)));
  rows.push({
    state: 'churn: max over the run / growth per hour',
    'control plane MB': Math.max(...series.map((s) => s.plane)),
    'agents MB (each)': max.map((m, i) => `${m.toFixed(1)} (${(growth[i] as number).toFixed(2)}/h)`).join(' / '),
    'agents MB (max)': Math.max(...max),
  });
  return {
    rows,
    summary: {
      churnMinutes: last.min,
      churnRounds: rounds,
      churnRoundsFailed: failed,
      churnPauseSeconds: CHURN_PAUSE_MS / 1000,
      agentStartMB: first.agents,
      agentEndMB: last.agents,
      agentMaxMB: max,
      agentMaxOfAllMB: Math.max(...max),
      agentGrowthMBPerHour: growth,
      agentAnonymousStartMB: first.anon,
      agentAnonymousEndMB: last.anon,
      agentAnonymousGrowthMBPerHour: agents.map((_, i) =>
        slope(
          series.map((s) => s.anon[i] as number),
          hours,
        ),
      ),
      agentsUnder60MB: Math.max(...max) < 60,
      controlPlaneStartMB: first.plane,
      controlPlaneEndMB: last.plane,
      series: series.map((s) => ({
        min: Number(s.min.toFixed(2)),
        agents: s.agents.map((a) => Number(a.toFixed(2))),
        anonymous: s.anon.map((a) => Number(a.toFixed(2))),
        plane: Number(s.plane.toFixed(2)),
      })),
    },
  };
}

function churnRow(state: string, s: { agents: number[]; plane: number }): Row {
  return {
    state,
    'control plane MB': s.plane,
    'agents MB (each)': s.agents.map((a) => a.toFixed(1)).join(' / '),
    'agents MB (max)': Math.max(...s.agents),
  };
}

let cliMedians: Record<string, number> = {};
function cliStart(): Row[] {
  const runs = (args: string[]) => median(Array.from({ length: 10 }, () => timeMs(process.execPath, args)));
  const base = runs(['-e', '0']);
  const cmds: [string, string[]][] = [
    ['ferry version --client', [CLI, 'version', '--client']],
    ['ferry get pods', [CLI, 'get', 'pods']],
    [
      'ferry apply --dry-run -f examples/',
      [CLI, 'apply', '--dry-run', '-f', join(ROOT, 'examples/web-deployment.yaml')],
    ],
  ];
  cliMedians = { 'node -e 0': base };
  const rows: Row[] = [
    { state: 'CLI start: node -e 0 (baseline), median of 10', 'control plane MB': `${base.toFixed(0)} ms` },
  ];
  for (const [name, args] of cmds) {
    const ms = runs(args);
    cliMedians[name] = ms;
    rows.push({
      state: `CLI start: ${name}`,
      'control plane MB': `${ms.toFixed(0)} ms (${(ms / base).toFixed(1)}x node -e 0)`,
    });
  }
  return rows;
}

function dockerdKb(): number {
  const pid = Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(' ')[0]);
  return rssKb(pid);
}

async function swarmOps(): Promise<{ times: OpTimes; dockerdGrowthMB: number }> {
  const svc = 'ferry-footprint-swarm';
  const tasks = () =>
    execFileSync(
      'docker',
      ['service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'],
      {
        encoding: 'utf8',
      },
    )
      .split('\n')
      .filter((l) => l.startsWith('Running')).length;
  const before = dockerdKb();
  execFileSync('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:0'], {
    stdio: 'ignore',
  });
  const times = {} as OpTimes;
  try {
    let t0 = performance.now();
    execFileSync(
      'docker',
      ['service', 'create', '--detach', '--name', svc, '--replicas', '10', '--stop-grace-period', '1s', IMAGE, ...CMD],
      {
        stdio: 'ignore',
      },
    );
    await until('swarm 10 running', 120_000, () => tasks() === 10);
    times.create10 = performance.now() - t0;
    t0 = performance.now();
    execFileSync('docker', ['service', 'scale', '--detach', `${svc}=30`], { stdio: 'ignore' });
    await until('swarm 30 running', 180_000, () => tasks() === 30);
    times.scale10to30 = performance.now() - t0;
    t0 = performance.now();
    execFileSync(
      'docker',
      ['service', 'update', '--detach', '--env-add', 'ROUND=1', '--update-parallelism', '8', svc],
      { stdio: 'ignore' },
    );
    await until('swarm update done', 300_000, () => {
      const state = execFileSync(
        'docker',
        ['service', 'inspect', svc, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}'],
        {
          encoding: 'utf8',
        },
      ).trim();
      return state === 'completed' && tasks() === 30;
    });
    times.update30 = performance.now() - t0;
    const victim = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)[0] as string;
    t0 = performance.now();
    execFileSync('docker', ['kill', victim], { stdio: 'ignore' });
    await sleep(200);
    await until('swarm replacement', 60_000, () => tasks() === 30);
    times.replace1 = performance.now() - t0;
    return { times, dockerdGrowthMB: mb(dockerdKb() - before) };
  } finally {
    execFileSync('docker', ['service', 'rm', svc], { stdio: 'ignore' });
    execFileSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore' });
  }
}

buildOnce();
try {
  const f = await ferryOps();
  if (churnResult) {
    // The long mode reports the churn only: the short run's figures stay in footprint.json.
    report('footprint-hour', [...f.rss.slice(0, 2), ...churnResult.rows], {
      controlPlaneIdleMB: f.summary.controlPlaneIdleMB,
      agentMaxAt30PodsMB: f.summary.agentMaxAt30PodsMB,
      ...churnResult.summary,
    });
  } else await shortReport(f);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function shortReport(f: Awaited<ReturnType<typeof ferryOps>>): Promise<void> {
  let swarm: Awaited<ReturnType<typeof swarmOps>> | undefined;
  try {
    swarm = await swarmOps();
  } catch (err) {
    console.warn(`Docker Swarm comparison skipped: ${(err as Error).message}`);
  }
  const ops: Row[] = (['create10', 'scale10to30', 'update30', 'replace1'] as const).map((k) => ({
    state: {
      create10: 'create 10 replicas',
      scale10to30: 'scale 10 -> 30',
      update30: 'rolling update of 30',
      replace1: 'a killed container replaced',
    }[k],
    'control plane MB': `ferry ${(f.times[k] / 1000).toFixed(2)} s`,
    'agents MB (each)': swarm ? `swarm ${(swarm.times[k] / 1000).toFixed(2)} s` : 'swarm: n/a',
    'agents MB (max)': swarm ? f.times[k] / swarm.times[k] : '',
  }));
  report('footprint', [...f.rss, ...ops], {
    ...f.summary,
    cliStartMs: cliMedians,
    ferryOverSwarm: swarm
      ? Object.fromEntries(
          Object.keys(f.times).map((k) => [k, f.times[k as keyof OpTimes] / (swarm?.times[k as keyof OpTimes] ?? 1)]),
        )
      : 'n/a',
    dockerdGrowthUnderSwarmMB: swarm?.dockerdGrowthMB ?? 'n/a',
    rounds: ROUNDS,
  });
}
