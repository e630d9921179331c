/**
 * Node ports. Every Service (but ExternalName) gets one node port per port from a configurable
 * range (default 30000-32767, Kubernetes' `--service-node-port-range`); no two Services share one.
 * ferry has no cluster IPs: the node port is how pods and load balancers reach a Service, on every
 * node (DESIGN.md, Networking), so ClusterIP Services get one too.
 *
 * A claim is an internal kind (`NodePortClaim`, not served by the API) named by the port number:
 * the store's create is the atomic claim, so two API functions allocating at once never hand out
 * one port twice. A claim is made before its Service is written and released if that write fails;
 * a process that dies in between leaves a claim no Service uses, which the controller manager's
 * repair pass (`functions/controllers/node-port-repair.ts`) releases after CLAIM_REPAIR_AGE_MS.
 */
import type { Deps } from './deps';
import { FerryError, InvalidError, isAlreadyExists, isLostRace, type StatusCause } from './errors';
import type { Obj, ObjectRef } from './store/types';

export const NODE_PORT_CLAIM_KIND = 'NodePortClaim';
/** A claim younger than this may belong to a Service write still in flight. */
export const CLAIM_REPAIR_AGE_MS = 60_000;

export interface NodePortRange {
  min: number;
  max: number;
}

export const DEFAULT_NODE_PORT_RANGE: NodePortRange = { min: 30000, max: 32767 };

/** `30000-32767`; throws with the reason when the text is not a valid range. */
export function parseNodePortRange(text: string): NodePortRange {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new Error(`node port range "${text}" must be MIN-MAX with 1 <= MIN <= MAX <= 65535`);
  }
  return { min, max };
}

export interface ServicePortLike {
  name?: string;
  port: number;
  protocol?: string;
  nodePort?: number;
}

export interface ClaimRecord extends Obj {
  spec: { service: string; claimedAt: number };
}

interface ServiceLike extends Obj {
  spec: { type?: string; ports?: ServicePortLike[] };
}

/**
 * The Service's ports that are objects. Node ports are handled on bodies that may not have been
 * validated yet (PUT keeps allocated ports before defaulting): a malformed `ports` (a string,
 * `[null]`) yields nothing here, and validation then refuses it with a 422 naming the field.
 */
function portsOf(svc: Obj): ServicePortLike[] {
  const ports = (svc.spec as { ports?: unknown } | undefined)?.ports;
  if (!Array.isArray(ports)) return [];
  return ports.filter((p): p is ServicePortLike => typeof p === 'object' && p !== null && !Array.isArray(p));
}

/** A chosen node port worth looking at: a whole number (anything else is validation's to refuse). */
const chosen = (p: ServicePortLike): p is ServicePortLike & { nodePort: number } =>
  Number.isInteger(p.nodePort) && (p.nodePort as number) > 0;

/** The Service's own reference (its claims name it by namespace and name). */
export function serviceRef(svc: Obj): ObjectRef {
  return {
    kind: 'Service',
    name: svc.metadata.name,
    ...(svc.metadata.namespace ? { namespace: svc.metadata.namespace } : {}),
  };
}

export function ownerKey(svc: Obj): string {
  return `${svc.metadata.namespace ?? ''}/${svc.metadata.name}`;
}

export function needsNodePorts(svc: Obj): boolean {
  return svc.kind === 'Service' && (svc as ServiceLike).spec?.type !== 'ExternalName';
}

/** The node ports a Service holds. */
export function nodePortsOf(svc: Obj | undefined): number[] {
  if (svc?.kind !== 'Service') return [];
  return [
    ...new Set(
      portsOf(svc)
        .filter(chosen)
        .map((p) => p.nodePort),
    ),
  ];
}

/**
 * Problems with the node ports a user chose, before anything is claimed: outside the range, on an
 * ExternalName Service, or one port used twice for one protocol. `prefix` goes before each field.
 */
export function checkNodePorts(svc: Obj, range: NodePortRange, prefix = ''): StatusCause[] {
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  portsOf(svc).forEach((p, i) => {
    if (!chosen(p)) return;
    const field = `${prefix}spec.ports[${i}].nodePort`;
    if (!needsNodePorts(svc)) {
      causes.push({ field, reason: 'FieldValueForbidden', message: 'may not be used when type is ExternalName' });
    } else if (p.nodePort < range.min || p.nodePort > range.max) {
      causes.push({
        field,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${range.min}-${range.max}`,
      });
    }
    const key = `${p.nodePort}/${p.protocol ?? 'TCP'}`;
    if (seen.has(key)) causes.push({ field, reason: 'FieldValueDuplicate', message: `Duplicate value: ${p.nodePort}` });
    seen.add(key);
  });
  return causes;
}

/**
 * Everything a write of this Service would refuse about its node ports, without claiming any
 * (dry runs and apply's all-or-nothing check): checkNodePorts plus ports another Service holds.
 */
export async function nodePortProblems(
  deps: Deps,
  svc: Obj,
  range: NodePortRange,
  prefix = '',
): Promise<StatusCause[]> {
  return [...checkNodePorts(svc, range, prefix), ...(await takenNodePorts(deps, svc, prefix))];
}

/** Chosen node ports already claimed by another Service. */
async function takenNodePorts(deps: Deps, svc: Obj, prefix = ''): Promise<StatusCause[]> {
  const causes: StatusCause[] = [];
  const owner = ownerKey(svc);
  for (const [i, p] of portsOf(svc).entries()) {
    if (!chosen(p)) continue;
    const claim = await deps.store.get<ClaimRecord>({ kind: NODE_PORT_CLAIM_KIND, name: String(p.nodePort) });
    if (claim && claim.spec.service !== owner) causes.push(alreadyAllocated(`${prefix}spec.ports[${i}].nodePort`, p));
  }
  return causes;
}

function alreadyAllocated(field: string, p: ServicePortLike): StatusCause {
  return {
    field,
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${p.nodePort}: provided port is already allocated`,
  };
}

/**
 * A Service written with PUT or apply that leaves out node ports keeps the ones it has, matched by
 * port and protocol (Kubernetes' patchAllocatedValues); so does its cluster IP, if it has one.
 */
export function keepAllocated(stored: Obj, next: Obj): void {
  const was = stored.spec as { clusterIP?: string; clusterIPs?: string[] } | undefined;
  const now = next.spec as typeof was;
  if (!isObject(was) || !isObject(now)) return;
  // Kubernetes keeps them only while both versions have one (not when the type becomes ExternalName);
  // an empty clusterIP means "not chosen", as unset.
  const keepsIP = (s: Record<string, unknown>) => s.type !== 'ExternalName';
  if (keepsIP(was) && keepsIP(now)) {
    if ((now.clusterIP === undefined || now.clusterIP === '') && was.clusterIP !== undefined) {
      now.clusterIP = was.clusterIP;
    }
    const nowIPs = now.clusterIPs as unknown;
    // Not when clusterIP was changed: that is refused as immutable, not as a clusterIPs mismatch.
    const unset = nowIPs === undefined || (Array.isArray(nowIPs) && nowIPs.length === 0);
    if (unset && Array.isArray(was.clusterIPs) && now.clusterIP === was.clusterIP) now.clusterIPs = [...was.clusterIPs];
  }
  const before = portsOf(stored);
  for (const port of portsOf(next)) {
    if (port.nodePort !== undefined) continue;
    const same = before.find((p) => p.port === port.port && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP'));
    if (same?.nodePort !== undefined) port.nodePort = same.nodePort;
  }
}

/**
 * Claims a node port for every port of `svc` (mutated: `spec.ports[].nodePort` filled in). Ports
 * the Service already holds stay its own. Returns the ports claimed by this call: release them if
 * the Service write that follows fails. 422 when a chosen port belongs to another Service; 503
 * when the range is full. Chosen ports are checked with checkNodePorts first.
 */
export async function claimNodePorts(deps: Deps, svc: Obj, range: NodePortRange): Promise<number[]> {
  if (!needsNodePorts(svc)) return [];
  const causes = checkNodePorts(svc, range);
  if (causes.length > 0) throw new InvalidError('Service', svc.metadata.name, causes);
  const owner = ownerKey(svc);
  const ports = (svc as ServiceLike).spec.ports ?? [];
  const claimed: number[] = [];
  try {
    const taken: StatusCause[] = [];
    for (const [i, p] of ports.entries()) {
      if (!p.nodePort) continue;
      const result = await claim(deps, p.nodePort, owner);
      if (result === 'taken') taken.push(alreadyAllocated(`spec.ports[${i}].nodePort`, p));
      else if (result === 'new') claimed.push(p.nodePort);
    }
    if (taken.length > 0) throw new InvalidError('Service', svc.metadata.name, taken);
    // A port and protocol the Service names twice (TCP and UDP on 53) may share one node port.
    const byPort = new Map<number, number>();
    for (const p of ports) if (p.nodePort) byPort.set(p.port, p.nodePort);
    const unclaimed = ports.filter((p) => !p.nodePort);
    if (unclaimed.length === 0) return claimed;
    const inUse = new Set(
      (await deps.store.list<ClaimRecord>(NODE_PORT_CLAIM_KIND)).items.map((c) => Number(c.metadata.name)),
    );
    const size = range.max - range.min + 1;
    let cursor = Math.floor(Math.random() * size);
    for (const p of unclaimed) {
      const shared = byPort.get(p.port);
      if (shared !== undefined && !ports.some((q) => q.nodePort === shared && q.protocol === p.protocol)) {
        p.nodePort = shared;
        continue;
      }
      let found: number | undefined;
      for (let tries = 0; tries < size && found === undefined; tries++, cursor = (cursor + 1) % size) {
        const candidate = range.min + cursor;
        if (inUse.has(candidate)) continue;
        inUse.add(candidate);
        if ((await claim(deps, candidate, owner)) === 'new') found = candidate;
      }
      if (found === undefined) {
        throw new FerryError(
          503,
          'ServiceUnavailable',
          `no node port is free in the range ${range.min}-${range.max}: delete a Service or widen the range`,
        );
      }
      p.nodePort = found;
      byPort.set(p.port, found);
      claimed.push(found);
    }
    return claimed;
  } catch (err) {
    await releaseNodePorts(deps, claimed, owner);
    throw err;
  }
}

/** The record that claims `port` for the Service `owner` (namespace/name). */
export function claimRecord(port: number, owner: string, now: number): ClaimRecord {
  return {
    apiVersion: 'ferry.dev/v1',
    kind: NODE_PORT_CLAIM_KIND,
    metadata: { name: String(port) },
    spec: { service: owner, claimedAt: now },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `new`: claimed by this call; `ours`: `owner` held it already; `taken`: another Service holds it. */
async function claim(deps: Deps, port: number, owner: string): Promise<'new' | 'ours' | 'taken'> {
  try {
    await deps.store.create<ClaimRecord>(claimRecord(port, owner, deps.clock()));
    return 'new';
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const existing = await deps.store.get<ClaimRecord>({ kind: NODE_PORT_CLAIM_KIND, name: String(port) });
    return existing?.spec.service === owner ? 'ours' : 'taken';
  }
}

/** Releases the claims of `owner` on these ports; a claim held by another Service is left alone. */
export async function releaseNodePorts(deps: Deps, ports: number[], owner: string): Promise<void> {
  for (const port of ports) {
    const ref = { kind: NODE_PORT_CLAIM_KIND, name: String(port) };
    const existing = await deps.store.get<ClaimRecord>(ref);
    if (existing?.spec.service !== owner) continue;
    try {
      await deps.store.delete(ref, { resourceVersion: existing.metadata.resourceVersion as string });
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
  }
}

/**
 * Writes a Service with its node ports: claims what it needs, runs `write`, then releases what
 * the previous version held and this one does not. A failed write releases what it claimed.
 */
export async function writeServiceWithNodePorts<T extends Obj>(
  deps: Deps,
  range: NodePortRange,
  next: Obj,
  stored: Obj | undefined,
  write: (obj: Obj) => Promise<T>,
): Promise<T> {
  if (next.kind !== 'Service') return write(next);
  const claimed = await claimNodePorts(deps, next, range);
  let written: T;
  try {
    written = await write(next);
  } catch (err) {
    // Claims are the Service's by name: another writer of this Service (a second server making
    // it at once) may have found a port claimed here "its own" and written it. What the Service
    // as stored now holds stays claimed.
    const held = claimed.length > 0 ? new Set(nodePortsOf(await deps.store.get(serviceRef(next)))) : new Set();
    await releaseNodePorts(
      deps,
      claimed.filter((p) => !held.has(p)),
      ownerKey(next),
    );
    throw err;
  }
  const keep = new Set(nodePortsOf(written));
  const dropped = nodePortsOf(stored).filter((p) => !keep.has(p));
  if (dropped.length > 0) await releaseNodePorts(deps, dropped, ownerKey(next));
  return written;
}
