/**
 * The node pool controller of the cloud-controller-manager: keeps each NodePool's machines at its
 * desired count in the Cloud it names, and moves the pool when `spec.cloud` changes, which is how a
 * user takes a cluster to another provider: edit one field.
 *
 * Per pool, each pass (level-triggered; every step is safe to repeat):
 * - Machines are the provider's instances tagged with the cluster and pool. Missing ones are
 *   created, each with its own short-lived bootstrap token in its user-data, in the zone of
 *   `spec.zones` that has the fewest; a zone without capacity is skipped for the next one.
 * - Surplus machines, and every machine in a Cloud the pool no longer names, are retired: the node
 *   is cordoned and its pods deleted gracefully (their ReplicaSets recreate them on other nodes);
 *   once its pods are gone (or RETIRE_TIMEOUT_MS passed) the machine is deleted, then the Node and
 *   its credential. Machines without a registered node and NotReady nodes go first.
 * - Moving Clouds is surge-first: the new Cloud is brought to the desired count, and old nodes are
 *   retired only while the new Cloud's Ready nodes cover the desired count, `spec.maxUnavailable`
 *   at a time.
 * - Nodes get the pool's taints; status reports nodes, readyNodes and Ready / Migrating conditions.
 *
 * Old Clouds are found through the pool's Node objects (label ferry.dev/cloud), so a machine that
 * never registered in a Cloud the pool has left is not found: it is left to the provider's console.
 */
import { randomBytes } from 'node:crypto';
import type { CloudConfig, CloudProvider, Instance } from '../../providers/types';
import { InsufficientCapacityError } from '../../providers/types';
import type { Cloud, Node, NodePool, Pod, Taint } from '../../schemas';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEvent, recordEventOnce } from '../events';
import { deletePod, isTerminating } from '../pod-deletion';
import type { Obj } from '../store/types';
import { issueToken, TOKEN_KIND } from '../tokens';
import { sameJson } from './util';

export const POOL_LABEL = 'ferry.dev/pool';
export const CLOUD_LABEL = 'ferry.dev/cloud';
export const RETIRING_ANNOTATION = 'ferry.dev/retiring-since';
/**
 * On the NodePool: machines created recently (name -> time). Cloud listings are eventually
 * consistent (EC2's DescribeInstances may miss an instance for seconds after RunInstances), so a
 * machine created but not yet listed still counts, for up to LAUNCH_GRACE_MS: no duplicates.
 */
export const LAUNCHED_ANNOTATION = 'ferry.dev/launched';
export const LAUNCH_GRACE_MS = 300_000;
const ZONE_LABEL = 'topology.kubernetes.io/zone';
const TYPE_LABEL = 'node.kubernetes.io/instance-type';
/** A retiring node's machine is deleted at the latest this long after it was cordoned. */
export const RETIRE_TIMEOUT_MS = 120_000;

export interface NodePoolOptions {
  /** Tags every machine, so the pools of two clusters in one account never mix. */
  cluster: string;
  /** Where agents reach the API (it goes into each machine's user-data). */
  apiUrl: string;
  /** Builds the provider of a Cloud (default: providers/index.ts). */
  providerFor: (config: CloudConfig) => Promise<CloudProvider>;
  /** Lifetime of a machine's bootstrap token (default one hour). */
  bootstrapTtlSeconds?: number;
}

export async function reconcileNodePools(deps: Deps, options: NodePoolOptions): Promise<void> {
  const pools = (await deps.store.list<NodePool>('NodePool')).items;
  if (pools.length === 0) return;
  const clouds = new Map((await deps.store.list<Cloud>('Cloud')).items.map((c) => [c.metadata.name, c]));
  const nodes = (await deps.store.list<Node>('Node')).items;
  for (const pool of pools) {
    try {
      await reconcilePool(deps, options, pool, clouds, nodes);
    } catch (err) {
      await recordEventOnce(deps, pool, 'Warning', 'ReconcileFailed', String((err as Error).message ?? err));
      deps.log.warn('node pool pass failed', { pool: pool.metadata.name, error: String(err) });
    }
  }
}

interface Machine {
  instance: Instance;
  node: Node | undefined;
  cloud: string;
  provider: CloudProvider;
}

async function reconcilePool(
  deps: Deps,
  options: NodePoolOptions,
  given: NodePool,
  clouds: Map<string, Cloud>,
  allNodes: Node[],
): Promise<void> {
  let pool = given;
  const name = pool.metadata.name;
  const spec = pool.spec;
  const desired = Math.min(
    Math.max(spec.desiredNodes ?? spec.minNodes ?? 0, spec.minNodes ?? 0),
    spec.maxNodes ?? Number.POSITIVE_INFINITY,
  );
  const cloud = clouds.get(spec.cloud);
  if (!cloud) {
    await setStatus(deps, pool, 0, 0, [
      condition('Ready', 'False', 'CloudNotFound', `Cloud "${spec.cloud}" does not exist`),
    ]);
    await recordEventOnce(deps, pool, 'Warning', 'CloudNotFound', `Cloud "${spec.cloud}" does not exist`);
    return;
  }
  const nodes = allNodes.filter((n) => n.metadata.labels?.[POOL_LABEL] === name);
  const nodeByName = new Map(nodes.map((n) => [n.metadata.name, n]));

  // Machines, per Cloud: the one the pool names, and any its nodes still live in.
  const cloudNames = new Set([cloud.metadata.name]);
  for (const n of nodes) {
    const c = n.metadata.labels?.[CLOUD_LABEL];
    if (c) cloudNames.add(c);
  }
  const machines: Machine[] = [];
  for (const cloudName of cloudNames) {
    const c = clouds.get(cloudName);
    if (!c) continue;
    const provider = await options.providerFor(await cloudConfig(deps, c));
    for (const instance of await provider.listInstances({ cluster: options.cluster, pool: name })) {
      if (instance.state === 'terminated') continue;
      machines.push({ instance, node: nodeByName.get(instance.name), cloud: cloudName, provider });
    }
  }
  const retiring = (m: Machine) => m.node?.metadata.annotations?.[RETIRING_ANNOTATION] !== undefined;
  const current = machines.filter(
    (m) => m.cloud === cloud.metadata.name && !retiring(m) && m.instance.state !== 'stopping',
  );
  const old = machines.filter((m) => m.cloud !== cloud.metadata.name && !retiring(m));

  // Finish what retiring started: delete machines whose pods are gone (or that waited long enough).
  const gone = new Set<Machine>();
  for (const m of machines.filter(retiring)) if (await finishRetiring(deps, m)) gone.add(m);
  // A NotReady node whose machine is gone (terminated outside ferry, or retired) goes too, like the
  // cloud node lifecycle controller of Kubernetes does it.
  const seen = new Set(machines.map((m) => m.instance.name));
  for (const n of nodes) {
    if (seen.has(n.metadata.name) || isNodeReady(n) || !cloudNames.has(n.metadata.labels?.[CLOUD_LABEL] ?? ''))
      continue;
    await removeNode(deps, n.metadata.name);
  }

  // Scale up the current Cloud, counting machines launched but not listed yet.
  const provider = await options.providerFor(await cloudConfig(deps, cloud));
  const listed = new Set(machines.map((m) => m.instance.name));
  const launched = launchedOf(pool, deps.clock(), listed);
  const unlisted = Object.keys(launched).length;
  let created: Machine[] = [];
  if (current.length + unlisted < desired) {
    created = await createMachines(deps, options, pool, cloud, provider, current, desired - current.length - unlisted);
    current.push(...created);
  }
  const stamp = new Date(deps.clock()).toISOString();
  for (const m of created) launched[m.instance.name] = stamp;
  pool = await rememberLaunched(deps, pool, launched);

  // Retire: surplus in the current Cloud, and old Clouds once the new one carries the load.
  const ready = current.filter((m) => m.node && isNodeReady(m.node)).length;
  const budget = Math.max(1, maxUnavailable(spec.maxUnavailable, desired));
  const inFlight = machines.filter(retiring).length;
  let allowance = Math.max(0, budget - inFlight);
  if (current.length > desired) {
    for (const m of byValue(current).slice(0, Math.min(allowance, current.length - desired))) {
      await startRetiring(deps, pool, m, 'ScaleDown');
      allowance--;
    }
  }
  if (old.length > 0 && ready >= desired) {
    for (const m of byValue(old).slice(0, allowance)) await startRetiring(deps, pool, m, 'MovedCloud');
  }

  for (const n of nodes) await ensureTaints(deps, n, spec.taints ?? []);

  const conditions = [
    condition(
      'Ready',
      ready >= desired ? 'True' : 'False',
      ready >= desired ? 'NodesReady' : 'WaitingForNodes',
      `${ready} of ${desired} nodes Ready in Cloud "${cloud.metadata.name}"`,
    ),
  ];
  const leaving = machines.filter((m) => m.cloud !== cloud.metadata.name && !gone.has(m)).length;
  if (leaving > 0) {
    conditions.push(
      condition(
        'Migrating',
        'True',
        'MovingCloud',
        `${leaving} node(s) left to move to Cloud "${cloud.metadata.name}"`,
      ),
    );
  }
  await setStatus(deps, pool, current.length + unlisted, ready, conditions);
}

/** The pool's recently launched machines that are not listed yet and still within the grace. */
function launchedOf(pool: NodePool, now: number, listed: Set<string>): Record<string, string> {
  let parsed: Record<string, string> = {};
  try {
    parsed = JSON.parse(pool.metadata.annotations?.[LAUNCHED_ANNOTATION] ?? '{}') as Record<string, string>;
  } catch {}
  const out: Record<string, string> = {};
  for (const [name, at] of Object.entries(parsed)) {
    if (!listed.has(name) && now - Date.parse(at) < LAUNCH_GRACE_MS) out[name] = at;
  }
  return out;
}

async function rememberLaunched(deps: Deps, pool: NodePool, launched: Record<string, string>): Promise<NodePool> {
  const value = JSON.stringify(launched);
  const current = pool.metadata.annotations?.[LAUNCHED_ANNOTATION];
  if (current === value || (current === undefined && value === '{}')) return pool;
  const annotations: Record<string, string> = { ...pool.metadata.annotations, [LAUNCHED_ANNOTATION]: value };
  if (value === '{}') delete annotations[LAUNCHED_ANNOTATION];
  return deps.store.update({ ...pool, metadata: { ...pool.metadata, annotations } });
}

async function createMachines(
  deps: Deps,
  options: NodePoolOptions,
  pool: NodePool,
  cloud: Cloud,
  provider: CloudProvider,
  current: Machine[],
  count: number,
): Promise<Machine[]> {
  const zones = pool.spec.zones ?? [];
  if (zones.length === 0) {
    await recordEventOnce(deps, pool, 'Warning', 'NoZones', 'spec.zones: name at least one zone to create nodes in');
    return [];
  }
  const perZone = new Map(zones.map((z) => [z, current.filter((m) => m.instance.zone === z).length]));
  const full = new Set<string>();
  const made: Machine[] = [];
  for (let i = 0; i < count; i++) {
    const nodeName = `${pool.metadata.name}-${randomBytes(3).toString('hex')}`.slice(0, 63);
    const candidates = zones.filter((z) => !full.has(z)).sort((a, b) => (perZone.get(a) ?? 0) - (perZone.get(b) ?? 0));
    let instance: Instance | undefined;
    for (const zone of candidates) {
      const { record, token } = await issueToken(deps, {
        name: `boot-${nodeName}`,
        role: 'bootstrap',
        // Single-use and bound to this machine's name; the labels are the pool's, not the agent's say.
        nodeName,
        nodeLabels: machineLabels(pool, cloud, zone),
        ttlSeconds: options.bootstrapTtlSeconds ?? 3600,
        description: `bootstrap of node ${nodeName} (pool ${pool.metadata.name})`,
      });
      try {
        instance = await provider.createInstance({
          name: nodeName,
          cluster: options.cluster,
          pool: pool.metadata.name,
          instanceType: pool.spec.instanceType,
          zone,
          ...(pool.spec.image ? { image: pool.spec.image } : {}),
          tags: {},
          bootstrap: {
            apiUrl: options.apiUrl,
            token,
            labels: machineLabels(pool, cloud, zone),
          },
        });
        perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
        break;
      } catch (err) {
        await deps.store.delete({ kind: TOKEN_KIND, name: record.metadata.name }).catch(() => undefined);
        if (!(err instanceof InsufficientCapacityError)) throw err;
        full.add(zone);
        await recordEvent(deps, pool, 'Warning', 'InsufficientCapacity', err.message);
      }
    }
    if (!instance) break;
    await recordEvent(
      deps,
      pool,
      'Normal',
      'CreatedNode',
      `created ${instance.name} (${pool.spec.instanceType} in ${instance.zone}, Cloud "${cloud.metadata.name}")`,
    );
    made.push({ instance, node: undefined, cloud: cloud.metadata.name, provider });
  }
  return made;
}

/** Least valuable first: no registered node, then NotReady, then the newest. */
function byValue(machines: Machine[]): Machine[] {
  const rank = (m: Machine) => (!m.node ? 0 : isNodeReady(m.node) ? 2 : 1);
  return [...machines].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      String(b.node?.metadata.creationTimestamp ?? '').localeCompare(String(a.node?.metadata.creationTimestamp ?? '')),
  );
}

async function startRetiring(deps: Deps, pool: NodePool, m: Machine, reason: string): Promise<void> {
  const node = m.node;
  if (!node) {
    // Never registered: nothing runs there.
    await m.provider.deleteInstance(m.instance.id);
    await deps.store.delete({ kind: TOKEN_KIND, name: `boot-${m.instance.name}` }).catch(() => undefined);
    await recordEvent(deps, pool, 'Normal', reason, `deleted ${m.instance.name} (it had not registered)`);
    return;
  }
  const next: Node = {
    ...node,
    metadata: {
      ...node.metadata,
      annotations: { ...node.metadata.annotations, [RETIRING_ANNOTATION]: new Date(deps.clock()).toISOString() },
    },
    spec: { ...node.spec, unschedulable: true },
  };
  try {
    m.node = await deps.store.update(next);
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return; // the next pass sees the fresh node
    throw err;
  }
  const pods = (await deps.store.list<Pod>('Pod', { nodeName: node.metadata.name })).items;
  for (const pod of pods) {
    if (isTerminating(pod)) continue;
    await deletePod(deps, { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name });
  }
  await recordEvent(
    deps,
    pool,
    'Normal',
    reason,
    `retiring ${node.metadata.name}: cordoned, ${pods.length} pod(s) moving to other nodes`,
  );
}

/** Deletes a retiring node's machine once its pods are gone; true when it did. */
async function finishRetiring(deps: Deps, m: Machine): Promise<boolean> {
  const node = m.node as Node;
  const since = Date.parse(node.metadata.annotations?.[RETIRING_ANNOTATION] ?? '');
  const pods = (await deps.store.list<Pod>('Pod', { nodeName: node.metadata.name })).items;
  if (pods.length > 0 && deps.clock() - since < RETIRE_TIMEOUT_MS) return false;
  await m.provider.deleteInstance(m.instance.id);
  for (const pod of pods)
    await deletePod(
      deps,
      { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name },
      { force: true },
    );
  await removeNode(deps, node.metadata.name);
  return true;
}

/** The labels a pool's machine in `zone` registers with (carried by its bootstrap token). */
function machineLabels(pool: NodePool, cloud: Cloud, zone: string): Record<string, string> {
  return {
    ...pool.spec.labels,
    [POOL_LABEL]: pool.metadata.name,
    [CLOUD_LABEL]: cloud.metadata.name,
    [ZONE_LABEL]: zone,
    [TYPE_LABEL]: pool.spec.instanceType,
  };
}

/** Deletes a Node and the credentials issued to it. */
async function removeNode(deps: Deps, name: string): Promise<void> {
  await deps.store.delete({ kind: 'Node', name }).catch((err) => {
    if (!isNotFound(err)) throw err;
  });
  const tokens = (await deps.store.list<Obj & { spec: { nodeName?: string } }>(TOKEN_KIND)).items;
  for (const t of tokens.filter((t) => t.spec.nodeName === name))
    await deps.store.delete({ kind: TOKEN_KIND, name: t.metadata.name }).catch(() => undefined);
}

async function ensureTaints(deps: Deps, node: Node, taints: Taint[]): Promise<void> {
  const have = node.spec?.taints ?? [];
  const missing = taints.filter((t) => !have.some((h) => h.key === t.key && h.effect === t.effect));
  if (missing.length === 0) return;
  try {
    await deps.store.update({ ...node, spec: { ...node.spec, taints: [...have, ...missing] } });
  } catch (err) {
    if (!isConflict(err) && !isNotFound(err)) throw err;
  }
}

/** The Cloud's spec as a provider takes it, with its Secret's data decoded. */
async function cloudConfig(deps: Deps, cloud: Cloud): Promise<CloudConfig> {
  const s = cloud.spec;
  const config: CloudConfig = { name: cloud.metadata.name, type: s.type };
  if (s.region) config.region = s.region;
  if (s.project) config.project = s.project;
  if (s.subscriptionId) config.subscriptionId = s.subscriptionId;
  if (s.resourceGroup) config.resourceGroup = s.resourceGroup;
  if (s.options) config.options = s.options as Record<string, unknown>;
  if (s.credentialsSecretRef) {
    const ref = s.credentialsSecretRef;
    const secret = await deps.store.get<Obj & { data?: Record<string, string> }>({
      kind: 'Secret',
      namespace: ref.namespace,
      name: ref.name,
    });
    if (!secret) throw new Error(`Cloud "${cloud.metadata.name}": Secret ${ref.namespace}/${ref.name} does not exist`);
    config.credentials = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }
  return config;
}

function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function maxUnavailable(value: number | string | undefined, desired: number): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.endsWith('%')) return Math.floor((desired * Number(value.slice(0, -1))) / 100);
  return 1;
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string) {
  return { type, status, reason, message };
}

async function setStatus(
  deps: Deps,
  pool: NodePool,
  nodes: number,
  readyNodes: number,
  conditions: { type: string; status: 'True' | 'False'; reason: string; message: string }[],
): Promise<void> {
  const now = new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const previous = pool.status?.conditions ?? [];
  const status = {
    nodes,
    readyNodes,
    observedGeneration: pool.metadata.generation as number,
    conditions: conditions.map((c) => {
      const before = previous.find((p) => p.type === c.type);
      return { ...c, lastTransitionTime: before?.status === c.status ? (before.lastTransitionTime ?? now) : now };
    }),
  };
  if (sameJson(status, pool.status)) return;
  try {
    await deps.store.update({ ...pool, status });
  } catch (err) {
    if (!isConflict(err) && !isNotFound(err)) throw err;
  }
}
