/**
 * `ferry up`'s cluster: the local control plane plus N nodes made by the local provider (agent
 * processes on this machine, containers on Docker), all of one data dir. The CLI starts it and
 * prints; this module owns the store, the bootstrap token and the provider, so `cli/` never
 * reaches past the runtime into the control plane's cores.
 *
 * Every node of the cluster carries the data dir's cluster id (`<dataDir>/cluster-id`, made on the
 * first start), on its containers and its pod network, so `ferry down --data-dir X` and a second
 * cluster's agents touch only their own.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalProvider } from '../../providers/local';
import type { Node } from '../../schemas';
import { isConditionTrue } from '../../schemas/conditions';
import type { Logger } from '../log';
import { issueToken } from '../tokens';
import { type LocalControlPlane, startLocalControlPlane } from './local';

export const CLUSTER_ID_FILE = 'cluster-id';
/**
 * Two glibc malloc arenas for the agent, not one per libuv worker thread: a bound on what freed
 * native memory the process keeps (agent/Dockerfile sets it too). Measured effect is small. What
 * an agent's RSS does under churn is V8's: its live heap stays at ~6 MB, promoted garbage fills the
 * old generation up to about 8 MB above that, then a full GC (or the idle memory reducer) empties
 * it, so the anonymous part saws between ~13 and ~21 MB (bench footprint --churn-minutes; heap
 * growth, semi-space, old-space caps from 32 MB up and GC-thread flags left it where it was).
 */
export const AGENT_ENV = { MALLOC_ARENA_MAX: '2' };
/**
 * V8 flags for an agent's Node (agent/Dockerfile passes the same): `--lite-mode` runs without the
 * optimizing compilers, whose code and feedback an idle, mostly-waiting process pays for in
 * resident memory (about 8 MB of an agent's; bench footprint) while it gains little from them (an
 * agent spends its time in the Docker socket, JSON and the event loop's waits; a hot loop costs
 * ~15% more CPU). `--no-expose-wasm` says what lite mode implies, without its start-up warning
 * (the agent uses node:http, no WebAssembly).
 */
export const AGENT_NODE_FLAGS = ['--lite-mode', '--no-expose-wasm'];

/** `[node, script, ...]` with the agent's V8 flags after `node`; another launcher is left as given. */
export function withAgentNodeFlags(command: string[]): string[] {
  const [cmd, ...rest] = command;
  if (cmd !== process.execPath || rest.some((a) => AGENT_NODE_FLAGS.includes(a))) return command;
  return [cmd, ...AGENT_NODE_FLAGS, ...rest];
}
/** The Cloud `ferry up`'s own nodes belong to (NodePools' local Clouds are others). */
const UP_NODES = { name: 'ferry-up', uid: 'ferry-up' };

export interface LocalClusterOptions {
  dataDir: string;
  port: number;
  log: Logger;
  nodes: number;
  /** The agent's command line (`node dist/agent.js`). */
  agentCommand: string[];
  sandboxImage: string;
  cpuPerNode: string;
  memoryPerNode: string;
  agentLogLevel: string;
  /** The API address agents call, from the address the plane listens on (0.0.0.0 -> loopback). */
  apiUrlFor: (planeUrl: string) => string;
  /** How long to wait for every node to be Ready. */
  readyTimeoutMs?: number;
  /** The first node address's host number (127.0.1.N), for a second cluster on the machine. */
  firstAddress?: number;
}

export interface LocalCluster {
  plane: LocalControlPlane;
  clusterId: string;
  nodeNames: string[];
  /** Stops the agents (SIGTERM; their containers keep running) and the control plane. */
  close(): Promise<void>;
}

/** The data dir's cluster id, made (8 random hex digits) and kept on first use. */
export async function clusterIdOf(dataDir: string): Promise<string> {
  const file = join(dataDir, CLUSTER_ID_FILE);
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^[a-z0-9]{1,32}$/.test(existing)) return existing;
  const id = randomBytes(4).toString('hex');
  await writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const clusterId = await clusterIdOf(options.dataDir);
  const provider = new LocalProvider({
    dataDir: options.dataDir,
    agentCommand: withAgentNodeFlags(options.agentCommand),
    sandboxImage: options.sandboxImage,
    cpuPerNode: options.cpuPerNode,
    memoryPerNode: options.memoryPerNode,
    extraEnv: { FERRY_LOG_LEVEL: options.agentLogLevel, FERRY_CLUSTER_ID: clusterId, ...AGENT_ENV },
    ...(options.firstAddress !== undefined ? { firstAddress: options.firstAddress } : {}),
  });
  const plane = await startLocalControlPlane({
    dataDir: options.dataDir,
    port: options.port,
    log: options.log,
    provider,
  });
  const nodeNames = Array.from({ length: options.nodes }, (_, i) => `local-${i + 1}`);
  const close = async () => {
    for (const instance of await provider.listInstances({ cluster: 'local', cloud: UP_NODES })) {
      const pid = provider.pidOf(instance.name);
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
    }
    await provider.close();
    await plane.close();
  };
  try {
    const { token } = await issueToken(plane.deps, {
      role: 'bootstrap',
      ttlSeconds: 3600,
      maxUses: options.nodes,
      // The local provider labels its agents with their pool; a node may not claim it unless told.
      nodeLabels: { 'ferry.dev/pool': 'local' },
      description: 'ferry up: local nodes',
    });
    const apiUrl = options.apiUrlFor(plane.url);
    for (const [i, name] of nodeNames.entries()) {
      await provider.createInstance({
        name,
        cluster: 'local',
        cloud: UP_NODES,
        pool: 'local',
        instanceType: 'local',
        zone: `local-${String.fromCharCode(97 + (i % 3))}`,
        bootstrap: { apiUrl, token, labels: {} },
        tags: {},
      });
    }
    await waitReady(plane, nodeNames, options.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { plane, clusterId, nodeNames, close };
}

async function waitReady(plane: LocalControlPlane, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await plane.store.list<Node>('Node')).items;
    const ready = names.filter((n) => isConditionTrue(nodes.find((x) => x.metadata.name === n)));
    if (ready.length === names.length) return;
    if (Date.now() > deadline)
      throw new Error(
        `nodes not Ready after ${timeoutMs / 1000}s: ${names.filter((n) => !ready.includes(n)).join(', ')} (see the agent logs under the data dir's nodes/)`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
