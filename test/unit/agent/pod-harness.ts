/** A pod manager over the in-memory runtime for unit tests: fast ticks, a short back-off, a temp state dir. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { PodManager, type PodManagerOptions } from '../../../agent/pods/manager';
import { FakeRuntime } from '../../../agent/runtime/fake';

const log = { debug() {}, info() {}, warn() {}, error() {} };
const managers: PodManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

export async function startManager(
  options: Partial<PodManagerOptions> = {},
  runtime = new FakeRuntime(),
): Promise<{ m: PodManager; runtime: FakeRuntime; stateDir: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-pm-'));
  const m = new PodManager(runtime, { nodeIp: '127.0.1.1', stateDir, log, tickMs: 30, backoffBaseMs: 200, ...options });
  managers.push(m);
  await m.start();
  return { m, runtime, stateDir };
}

export async function until(check: () => boolean, what = 'the condition', ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

export function pod(spec: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1', ...meta },
    spec: { nodeName: 'n1', terminationGracePeriodSeconds: 5, containers: [{ name: 'app', image: 'img' }], ...spec },
  };
}

/** The last status the manager built for the pod. */
export function statusOf(m: PodManager): Record<string, unknown> & {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string }[];
  containerStatuses?: {
    name: string;
    state: Record<string, { reason?: string; exitCode?: number }>;
    ready: boolean;
    restartCount: number;
    started?: boolean;
  }[];
  initContainerStatuses?: {
    name: string;
    state: Record<string, { reason?: string; exitCode?: number }>;
    ready: boolean;
    restartCount: number;
    started?: boolean;
  }[];
} {
  return (m.changedStatuses()[0]?.status ?? {}) as never;
}

export const condition = (m: PodManager, type: string) => statusOf(m).conditions?.find((c) => c.type === type)?.status;
