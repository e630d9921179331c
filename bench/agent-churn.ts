/**
 * `npm run bench -- agent-churn [--rounds=60] [--pods=10] [--no-build]` (no Docker): the real
 * agent bundle (dist/agent.js, as `ferry up` starts it) against a fake Docker Engine and a fake
 * API (lib/fake-engine.ts), through rounds of replace-all + scale N -> N/3 -> N, its RSS and the
 * anonymous part of it (heap and malloc; the rest is the node binary's pages) read after each
 * round. Run twice in the same run: with the agent's V8 flags (AGENT_NODE_FLAGS) and with plain
 * node, the baseline. What tells a leak from V8's heap sizing is the troughs: a full GC empties
 * the old generation every so many rounds, and a leak lifts each trough above the last.
 *
 * iptables is a stub that fails (cluster IPs are skipped, the machine's tables are not touched);
 * the node and gateway addresses are 127.0.3.2 and 127.0.3.1, the ports free ones.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../functions/runtime/local-cluster';
import { FakeApi, fakeDocker } from './lib/fake-engine';
import { slope } from './lib/stats';
import { type Row, report } from './report';

const ROOT = join(import.meta.dirname, '..');
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const ROUNDS = Number(flag('rounds') ?? 60);
const PODS = Number(flag('pods') ?? 10);
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0 && Number.isInteger(PODS) && PODS >= 3))
  throw new Error('--rounds takes a whole number above 0, --pods one of 3 or more');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** RSS and its anonymous part in MB, and the CPU seconds used, of a process. */
function memory(pid: number): { rss: number; anon: number; cpu: number } {
  const smaps = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(smaps)?.[1] ?? Number.NaN) / 1024;
  const stat = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return { rss: kb('Rss'), anon: kb('Anonymous'), cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
}

/** The lowest sample after each drop (a full GC), first to last: a leak makes them climb. */
function troughs(ys: number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < ys.length; i++) {
    const drop = (ys[i - 1] as number) - (ys[i] as number) > 1;
    if (drop) out.push(ys[i] as number);
  }
  return out;
}

interface Series {
  flags: string;
  samples: { rss: number; anon: number }[];
  cpu: number;
  syncs: number;
}

async function churn(nodeFlags: string[], dir: string): Promise<Series> {
  const socket = join(dir, `docker-${nodeFlags.length}.sock`);
  const docker = await fakeDocker(socket, '127.0.3.1');
  const api = new FakeApi('churn-1');
  const apiPort = await freePort();
  await api.listen(apiPort);
  const ports = [await freePort(), await freePort(), await freePort()].map(String);
  const agent: ChildProcess = spawn(
    process.execPath,
    [
      ...nodeFlags,
      join(ROOT, 'dist/agent.js'),
      ...['--api-url', `http://127.0.0.1:${apiPort}`, '--node-name', 'churn-1', '--node-ip', '127.0.3.2'],
      ...['--state-dir', join(dir, `state-${nodeFlags.length}`), '--docker-socket', socket, '--token', 'bootstrap'],
      ...['--ingress-http-port', ports[0] as string, '--ingress-https-port', ports[1] as string],
      ...['--api-relay-port', ports[2] as string, '--sandbox-image', 'pause'],
    ],
    {
      env: { ...process.env, ...AGENT_ENV, PATH: `${dir}:${process.env.PATH}`, FERRY_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const pid = agent.pid as number;
  try {
    api.scaleTo(PODS, 0);
    await api.settle(PODS);
    await sleep(2_000);
    const samples = [memory(pid)];
    for (let r = 1; r <= ROUNDS; r++) {
      api.replaceAll(r);
      await api.settle(PODS);
      api.scaleTo(Math.ceil(PODS / 3), r);
      await api.settle(Math.ceil(PODS / 3));
      api.scaleTo(PODS, r);
      await api.settle(PODS);
      samples.push(memory(pid));
    }
    return { flags: nodeFlags.join(' ') || '(none)', samples, cpu: memory(pid).cpu, syncs: api.syncs };
  } finally {
    agent.kill('SIGKILL');
    api.close();
    docker.close();
  }
}

if (!process.argv.includes('--no-build'))
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit', cwd: ROOT });
const dir = mkdtempSync(join(tmpdir(), 'ferry-agent-churn-'));
try {
  // The agent's cluster IP rules: a stub that fails, so nothing of the machine's is changed.
  for (const cmd of ['iptables', 'iptables-restore']) {
    writeFileSync(join(dir, cmd), '#!/bin/sh\nexit 1\n');
    chmodSync(join(dir, cmd), 0o755);
  }
  const runs = [await churn(AGENT_NODE_FLAGS, dir), await churn([], dir)];
  const rows: Row[] = [];
  const summary: Record<string, unknown> = { rounds: ROUNDS, pods: PODS };
  for (const s of runs) {
    const anon = s.samples.map((x) => x.anon);
    const rss = s.samples.map((x) => x.rss);
    const lows = troughs(anon);
    for (const r of [0, ...Array.from({ length: Math.floor(ROUNDS / 10) }, (_, i) => (i + 1) * 10)]) {
      const x = s.samples[r];
      if (x)
        rows.push({ flags: s.flags, at: r === 0 ? 'start' : `round ${r}`, 'RSS MB': x.rss, 'anonymous MB': x.anon });
    }
    rows.push({
      flags: s.flags,
      at: `min / max over ${ROUNDS} rounds`,
      'RSS MB': `${Math.min(...rss).toFixed(1)} / ${Math.max(...rss).toFixed(1)}`,
      'anonymous MB': `${Math.min(...anon).toFixed(1)} / ${Math.max(...anon).toFixed(1)}`,
    });
    summary[s.flags] = {
      rssMaxMB: Math.max(...rss),
      anonymousMinMB: Math.min(...anon),
      anonymousMaxMB: Math.max(...anon),
      anonymousMBPerRound: slope(anon),
      troughsMB: lows,
      troughMBPerGc: slope(lows),
      cpuSeconds: s.cpu,
      syncs: s.syncs,
    };
  }
  report('agent-churn', rows, summary);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
