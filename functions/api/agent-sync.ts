/**
 * The control-plane side of the agent protocol (schemas/agent-protocol.ts), platform-free.
 *
 * A sync is the node's heartbeat (it renews the node's Lease: one tiny write), carries node and
 * pod status only when they changed, confirms the removal of terminated pods, and answers with
 * the pods bound to the node. When nothing changed since the agent's `podsVersion`, the call is
 * held open (bounded) until a pod of this node changes, so a new pod starts without an interval.
 *
 * Node credentials are restricted like Kubernetes' NodeRestriction admission: a node writes only
 * its own Node, its own Lease and the status of pods bound to it.
 */
import { createHash } from 'node:crypto';
import type {
  ConfigSource,
  PodRef,
  RoutePort,
  ServiceRoute,
  SyncRequest,
  SyncResponse,
} from '../../schemas/agent-protocol';
import type { Deps } from '../deps';
import { ForbiddenError, isConflict, isNotFound } from '../errors';
import type { Obj, ObjectRef } from '../store/types';
import { LOG_REQUEST_KIND, pendingLogRequests } from './pod-logs';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const NODE_STATUS_UPDATE_SECONDS = 60;
/** The longest a sync is held open; below the node grace period so a held call is also a heartbeat. */
export const MAX_SYNC_WAIT_SECONDS = 5;

export interface SyncOptions {
  signal?: AbortSignal;
  /** Lease duration written for the node (the node-lifecycle grace period). */
  leaseDurationSeconds?: number;
  /** How long a node whose held sync connection dropped may take to call again. */
  disconnectGraceMs?: number;
}

/**
 * Failure detection that does not wait for the heartbeat to expire: when an agent's held sync call
 * is cut (its process died, or its machine) and it does not call again within this grace, its node
 * becomes Ready=Unknown (AgentDisconnected) at once, and node-lifecycle's eviction delay starts.
 * Only runtimes that see the client go away (the local one) can tell; elsewhere the lease expiry
 * (node-lifecycle's grace period) is the detector.
 */
export const DISCONNECT_GRACE_MS = 2_000;

/** Pending disconnect checks per store, so a control plane that shuts down cancels them. */
const pendingChecks = new WeakMap<object, Set<NodeJS.Timeout>>();

/** Cancels the disconnect checks still pending against this store (call before closing it). */
export function cancelDisconnectChecks(store: object): void {
  for (const t of pendingChecks.get(store) ?? []) clearTimeout(t);
  pendingChecks.delete(store);
}

function suspectDisconnect(deps: Deps, nodeName: string, graceMs: number): void {
  const cutAt = deps.clock();
  const pending = pendingChecks.get(deps.store) ?? new Set<NodeJS.Timeout>();
  pendingChecks.set(deps.store, pending);
  const timer = setTimeout(() => {
    pending.delete(timer);
    void (async () => {
      const lease = await deps.store.get({ kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: nodeName });
      const renewed = Date.parse(((lease?.spec ?? {}) as { renewTime?: string }).renewTime ?? '');
      if (renewed > cutAt) return;
      await retryOnConflict(async () => {
        const node = await deps.store.get({ kind: 'Node', name: nodeName });
        if (!node) return;
        const status = (node.status ?? {}) as { conditions?: Condition[] };
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status !== 'True') return;
        const time = new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
        const conditions = (status.conditions ?? []).map((c) =>
          c.type === 'Ready'
            ? {
                ...c,
                status: 'Unknown',
                reason: 'AgentDisconnected',
                message: 'The agent dropped its connection and did not reconnect.',
                lastTransitionTime: time,
              }
            : c,
        );
        await deps.store.update({ ...node, status: { ...status, conditions } });
        deps.log.warn('node agent disconnected; node marked NotReady', { node: nodeName });
      });
    })().catch((err) => deps.log.warn('checking a disconnected node failed', { node: nodeName, error: String(err) }));
  }, graceMs);
  timer.unref?.();
  pending.add(timer);
}

export async function syncNode(
  deps: Deps,
  nodeName: string,
  req: SyncRequest,
  options: SyncOptions = {},
): Promise<SyncResponse> {
  const node = await deps.store.get({ kind: 'Node', name: nodeName });
  if (!node) throw new ForbiddenError(`node "${nodeName}" is not registered; register it again`);

  // Check every pod reference before writing anything: a rejected sync changes nothing.
  const owned = await podsOf(deps, nodeName);
  const byUid = new Map(owned.map((p) => [p.metadata.uid, p]));
  for (const ref of [...(req.podStatuses ?? []).map((s) => s.pod), ...(req.terminated ?? [])]) {
    const pod = byUid.get(ref.uid);
    if (!pod || pod.metadata.name !== ref.name || pod.metadata.namespace !== ref.namespace) {
      if (await isBoundElsewhere(deps, ref, nodeName)) {
        throw new ForbiddenError(
          `node "${nodeName}" may not modify pod ${ref.namespace}/${ref.name}: it is not bound to this node`,
        );
      }
    }
  }

  await renewLease(deps, nodeName, options.leaseDurationSeconds ?? 10);
  if (req.nodeStatus) await writeNodeStatus(deps, nodeName, req.nodeStatus);
  for (const { pod: ref, status } of req.podStatuses ?? []) {
    if (byUid.has(ref.uid)) await writePodStatus(deps, ref, status);
  }
  for (const ref of req.terminated ?? []) {
    const pod = byUid.get(ref.uid);
    if (pod?.metadata.deletionTimestamp) await removePod(deps, ref);
  }

  let pods = await podsOf(deps, nodeName);
  let config = await podConfig(deps, pods);
  let logRequests = await pendingLogRequests(deps, nodeName);
  let version = podsVersion(pods, config.version + logsVersion(logRequests));
  let routes = await serviceRoutes(deps);
  const wait = Math.min(req.waitSeconds ?? 0, MAX_SYNC_WAIT_SECONDS) * 1000;
  if (
    wait > 0 &&
    req.podsVersion === version &&
    req.servicesVersion === routes.version &&
    !req.podStatuses?.length &&
    !req.terminated?.length
  ) {
    const signal = options.signal;
    if (signal)
      signal.addEventListener(
        'abort',
        () => suspectDisconnect(deps, nodeName, options.disconnectGraceMs ?? DISCONNECT_GRACE_MS),
        { once: true },
      );
    await waitForChange(deps, nodeName, config.refs, wait, signal);
    pods = await podsOf(deps, nodeName);
    config = await podConfig(deps, pods);
    logRequests = await pendingLogRequests(deps, nodeName);
    version = podsVersion(pods, config.version + logsVersion(logRequests));
    routes = await serviceRoutes(deps);
  }
  return {
    pods,
    podsVersion: version,
    services: routes.services,
    servicesVersion: routes.version,
    nodeStatusUpdateSeconds: NODE_STATUS_UPDATE_SECONDS,
    configMaps: config.configMaps,
    secrets: config.secrets,
    ...(logRequests.length ? { logRequests } : {}),
  };
}

function logsVersion(requests: { name: string }[]): string {
  return requests.map((r) => r.name).join(',');
}

type PodSpecRefs = {
  containers?: ContainerRefs[];
  initContainers?: ContainerRefs[];
  volumes?: { configMap?: { name?: string }; secret?: { secretName?: string } }[];
  imagePullSecrets?: { name?: string }[];
};
type ContainerRefs = {
  env?: { valueFrom?: { configMapKeyRef?: { name?: string }; secretKeyRef?: { name?: string } } }[];
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[];
};

/** `ConfigMap/ns/name` and `Secret/ns/name` for every ConfigMap and Secret a pod refers to. */
export function configRefs(pod: Obj): string[] {
  const ns = pod.metadata.namespace as string;
  const spec = (pod.spec ?? {}) as PodSpecRefs;
  const out = new Set<string>();
  const add = (kind: string, name: string | undefined) => {
    if (name) out.add(`${kind}/${ns}/${name}`);
  };
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const e of c.env ?? []) {
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
      add('Secret', e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      add('ConfigMap', e.configMapRef?.name);
      add('Secret', e.secretRef?.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
  }
  // The node's pull of the pod's images needs them (agent/pods/pull-secrets.ts).
  for (const s of spec.imagePullSecrets ?? []) add('Secret', s.name);
  return [...out];
}

/**
 * The ConfigMaps and Secrets the pods of a node refer to, read one by one (only these reach the
 * node), and a fingerprint of them that marks the missing ones too.
 */
async function podConfig(
  deps: Deps,
  pods: Obj[],
): Promise<{ configMaps: ConfigSource[]; secrets: ConfigSource[]; refs: Set<string>; version: string }> {
  const refs = new Set(pods.filter((p) => !p.metadata.deletionTimestamp).flatMap(configRefs));
  const configMaps: ConfigSource[] = [];
  const secrets: ConfigSource[] = [];
  const h = createHash('sha256');
  for (const ref of [...refs].sort()) {
    const [kind, namespace, name] = ref.split('/') as [string, string, string];
    const obj = await deps.store.get({ kind, namespace, name });
    h.update(`${ref}:${obj?.metadata.resourceVersion ?? '-'}\n`);
    if (!obj) continue;
    const source: ConfigSource = { namespace, name };
    const o = obj as Obj & { data?: Record<string, string>; binaryData?: Record<string, string> };
    if (o.data) source.data = o.data;
    if (o.binaryData) source.binaryData = o.binaryData;
    (kind === 'Secret' ? secrets : configMaps).push(source);
  }
  return { configMaps, secrets, refs, version: refs.size ? h.digest('base64url').slice(0, 22) : '' };
}

type ServiceLike = Obj & {
  spec: { type?: string; ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[] };
};
type EndpointsLike = Obj & {
  subsets?: { addresses?: { ip: string }[]; ports?: { name?: string; port: number; protocol?: string }[] }[];
};

/**
 * Every Service's node ports and ready endpoints, and a fingerprint of them. All nodes get all
 * Services, as every kube-proxy watches every Service: any node port reaches any Service.
 */
export async function serviceRoutes(deps: Deps): Promise<{ services: ServiceRoute[]; version: string }> {
  const services = (await deps.store.list<ServiceLike>('Service')).items;
  const endpoints = new Map(
    (await deps.store.list<EndpointsLike>('Endpoints')).items.map((e) => [
      `${e.metadata.namespace}/${e.metadata.name}`,
      e,
    ]),
  );
  const h = createHash('sha256');
  const out: ServiceRoute[] = [];
  for (const svc of services) {
    if (svc.spec.type === 'ExternalName') continue;
    const ep = endpoints.get(`${svc.metadata.namespace}/${svc.metadata.name}`);
    h.update(`${svc.metadata.uid}:${svc.metadata.resourceVersion}:${ep?.metadata.resourceVersion ?? ''}\n`);
    const svcPorts = svc.spec.ports ?? [];
    const ports: RoutePort[] = [];
    for (const sp of svcPorts) {
      if (!sp.nodePort) continue;
      const protocol = sp.protocol ?? 'TCP';
      const targets: { ip: string; port: number }[] = [];
      for (const subset of ep?.subsets ?? []) {
        // Endpoints ports carry the Service port's name; a single-port Service may leave both unnamed.
        const match = subset.ports?.find(
          (p) => (p.protocol ?? 'TCP') === protocol && (p.name ?? '') === (sp.name ?? ''),
        );
        if (!match) continue;
        for (const a of subset.addresses ?? []) targets.push({ ip: a.ip, port: match.port });
      }
      ports.push({
        ...(sp.name ? { name: sp.name } : {}),
        port: sp.port,
        nodePort: sp.nodePort,
        protocol,
        endpoints: targets,
      });
    }
    if (ports.length > 0) out.push({ namespace: svc.metadata.namespace as string, name: svc.metadata.name, ports });
  }
  return { services: out, version: h.digest('base64url').slice(0, 22) };
}

async function podsOf(deps: Deps, nodeName: string): Promise<Obj[]> {
  return (await deps.store.list('Pod', { nodeName })).items;
}

async function isBoundElsewhere(deps: Deps, ref: PodRef, nodeName: string): Promise<boolean> {
  const pod = await deps.store.get({ kind: 'Pod', namespace: ref.namespace, name: ref.name });
  // A pod that is gone (or replaced under the same name) is not a write to someone else's pod:
  // the agent learns from the response that it is no longer bound here.
  if (!pod || pod.metadata.uid !== ref.uid) return false;
  return (pod.spec as { nodeName?: string } | undefined)?.nodeName !== nodeName;
}

/**
 * The fingerprint of a pod set: changes whenever any pod of the node is added, changed or removed,
 * or a ConfigMap or Secret they refer to (`configVersion`) does.
 */
export function podsVersion(pods: Obj[], configVersion = ''): string {
  const h = createHash('sha256');
  h.update(configVersion);
  for (const p of [...pods].sort((a, b) => String(a.metadata.uid).localeCompare(String(b.metadata.uid)))) {
    h.update(`${p.metadata.uid}:${p.metadata.resourceVersion}\n`);
  }
  return h.digest('base64url').slice(0, 22);
}

/**
 * Resolves when a pod of this node, a ConfigMap or Secret they refer to, or any Service or
 * Endpoints changes (or after `ms`).
 */
function waitForChange(
  deps: Deps,
  nodeName: string,
  refs: Set<string>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unwatch();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unwatch = deps.store.watch((ev) => {
      const kind = ev.object.kind;
      if (kind === 'Service' || kind === 'Endpoints') return done();
      if (
        kind === LOG_REQUEST_KIND &&
        ev.type === 'ADDED' &&
        (ev.object.spec as { nodeName?: string }).nodeName === nodeName
      )
        return done();
      if (
        (kind === 'ConfigMap' || kind === 'Secret') &&
        refs.has(`${kind}/${ev.object.metadata.namespace}/${ev.object.metadata.name}`)
      )
        return done();
      if (ev.object.kind !== 'Pod') return;
      // Own status writes come back as MODIFIED too; any change to a pod of this node wakes the call.
      if ((ev.object.spec as { nodeName?: string } | undefined)?.nodeName === nodeName) done();
    });
    if (signal?.aborted) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function renewLease(deps: Deps, nodeName: string, durationSeconds: number): Promise<void> {
  const ref: ObjectRef = { kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: nodeName };
  const renewTime = new Date(deps.clock()).toISOString();
  await retryOnConflict(async () => {
    const lease = await deps.store.get(ref);
    if (!lease) {
      await deps.store.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE },
        spec: { holderIdentity: nodeName, leaseDurationSeconds: durationSeconds, renewTime },
      });
      return;
    }
    lease.spec = {
      ...(lease.spec as object),
      holderIdentity: nodeName,
      leaseDurationSeconds: durationSeconds,
      renewTime,
    };
    await deps.store.update(lease);
  });
}

async function writeNodeStatus(deps: Deps, nodeName: string, status: Record<string, unknown>): Promise<void> {
  await retryOnConflict(async () => {
    const node = await deps.store.get({ kind: 'Node', name: nodeName });
    if (!node) return;
    node.status = keepTransitionTimes(node.status, status);
    await deps.store.update(node);
  });
}

async function writePodStatus(deps: Deps, ref: PodRef, status: Record<string, unknown>): Promise<void> {
  await retryOnConflict(async () => {
    const pod = await deps.store.get({ kind: 'Pod', namespace: ref.namespace, name: ref.name });
    if (!pod || pod.metadata.uid !== ref.uid) return;
    // The scheduler owns PodScheduled; the agent owns the rest of the status.
    const scheduled = ((pod.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).filter(
      (c) => c.type === 'PodScheduled',
    );
    const agentConditions = ((status.conditions as { type: string }[] | undefined) ?? []).filter(
      (c) => c.type !== 'PodScheduled',
    );
    pod.status = keepTransitionTimes(pod.status, { ...status, conditions: [...scheduled, ...agentConditions] });
    await deps.store.update(pod);
  });
}

async function removePod(deps: Deps, ref: PodRef): Promise<void> {
  try {
    await deps.store.delete({ kind: 'Pod', namespace: ref.namespace, name: ref.name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

type Condition = { type: string; status: string; lastTransitionTime?: string };

/** A condition keeps its lastTransitionTime while its status does not change, as in Kubernetes. */
function keepTransitionTimes(previous: unknown, next: Record<string, unknown>): Record<string, unknown> {
  const before = new Map(
    ((previous as { conditions?: Condition[] } | undefined)?.conditions ?? []).map((c) => [c.type, c]),
  );
  const conditions = (next.conditions as Condition[] | undefined)?.map((c) => {
    const old = before.get(c.type);
    return old && old.status === c.status && old.lastTransitionTime
      ? { ...c, lastTransitionTime: old.lastTransitionTime }
      : c;
  });
  return conditions ? { ...next, conditions } : next;
}

async function retryOnConflict(write: () => Promise<void>, attempts = 5): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await write();
    } catch (err) {
      if (!isConflict(err) || i >= attempts - 1) throw err;
    }
  }
}
