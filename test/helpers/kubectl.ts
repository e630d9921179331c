/**
 * What the kubectl suites share: whether kubectl runs here, a `describe` that runs a suite only
 * then (and fails it loudly under CI instead of skipping), and the control plane they drive over
 * HTTPS (kubectl sends a bearer token only over TLS) with a kubeconfig for it and simulated nodes.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { silentLogger } from '../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../functions/runtime/local';
import { type SimulatedNodes, startSimulatedNodes, type TestPlane } from '../integration/cli/harness';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, '../fixtures/tls');
const ASKS = 3;

/**
 * Why kubectl does not run here, or undefined when it does. Asked up to three times:
 * `/usr/bin/kubectl` is a dispatcher that may fail once on a loaded machine.
 */
export function kubectlProblem(command = 'kubectl'): string | undefined {
  let problem = '';
  for (let attempt = 1; attempt <= ASKS; attempt++) {
    const r = spawnSync(command, ['version', '--client'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return undefined;
    problem = r.error
      ? r.error.message
      : `exit ${r.status ?? `signal ${r.signal}`}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`;
  }
  return `\`kubectl version --client\` failed ${ASKS} times (last: ${problem})`;
}

/** CI sets one of these: there a suite that cannot run is a failure, not a skip. */
export function underCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.REQUIRE_DOCKER === '1' || (env.CI !== undefined && env.CI !== '' && env.CI !== 'false');
}

/** What a kubectl suite does: run, fail (kubectl does not run, under CI) or skip (elsewhere). */
export function kubectlGate(
  problem: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): 'run' | 'fail' | 'skip' {
  if (problem === undefined) return 'run';
  return underCI(env) ? 'fail' : 'skip';
}

/**
 * `describe` for a suite that drives the real kubectl: runs when kubectl answers; under CI fails
 * with one test saying why; elsewhere skips, saying why in a line no one can miss.
 */
export function describeKubectl(name: string, fn: () => void, problem = kubectlProblem()): void {
  const gate = kubectlGate(problem);
  if (gate === 'run') {
    describe(name, fn);
  } else if (gate === 'fail') {
    describe(name, () => {
      it('needs kubectl', () => {
        throw new Error(`kubectl required under CI (REQUIRE_DOCKER=1 or CI set) but it does not run: ${problem}`);
      });
    });
  } else {
    console.warn(
      `\n!!! SKIPPED "${name}": ${problem} (install kubectl; CI sets REQUIRE_DOCKER=1 or CI and fails instead)\n`,
    );
    describe.skipIf(true)(name, fn);
  }
}

export interface KubectlPlane {
  plane: LocalControlPlane;
  /** The plane's data directory (removed by `stop`); a suite may write its files there. */
  dir: string;
  /** A kubeconfig whose current context is the plane's admin over HTTPS. */
  kubeconfig: string;
  nodes: SimulatedNodes;
  stop(): Promise<void>;
}

/**
 * A control plane with its controllers (resync 500 ms) serving HTTPS with the test certificate,
 * a kubeconfig for its admin, and simulated nodes `node-1` and `node-2` with `nodeOptions`.
 */
export async function startKubectlPlane(
  prefix: string,
  nodeOptions: Parameters<typeof startSimulatedNodes>[2] = {},
): Promise<KubectlPlane> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  let plane: LocalControlPlane | undefined;
  try {
    plane = await startLocalControlPlane({
      dataDir: dir,
      port: 0,
      log: silentLogger,
      controllers: true,
      resyncMs: 500,
      tls: { cert: await readFile(join(FIXTURES, 'cert.pem')), key: await readFile(join(FIXTURES, 'key.pem')) },
    });
    const kubeconfig = join(dir, 'kubeconfig');
    const k = (...args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args]);
    const ca = `--certificate-authority=${join(FIXTURES, 'cert.pem')}`;
    await k('config', 'set-cluster', 'ferry', `--server=${plane.url}`, ca);
    await k('config', 'set-credentials', 'admin', `--token=${plane.adminToken}`);
    await k('config', 'set-context', 'ferry', '--cluster=ferry', '--user=admin');
    await k('config', 'use-context', 'ferry');
    const nodes = await startSimulatedNodes({ plane } as TestPlane, ['node-1', 'node-2'], nodeOptions);
    const started = plane;
    return {
      plane,
      dir,
      kubeconfig,
      nodes,
      async stop() {
        nodes.stop();
        await started.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    // Half started: nothing is left behind for the suite's afterAll, which never got a `stop`.
    await plane?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs kubectl with `kubeconfig`; its exit code and output, never a throw (a failure is an answer to assert). */
export async function runKubectl(
  kubeconfig: string,
  args: string[],
  timeout = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
