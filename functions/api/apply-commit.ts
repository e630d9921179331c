/**
 * The commit of an apply bundle: every object it creates or changes, and the cluster IP and node
 * port claims its Services take and give up, in one `store.transact`, so a crash (kill -9 of the server) at
 * any point leaves the whole bundle stored or none of it (issue 18 finding 11). Claims are made as
 * a single Service write makes them (`../node-ports.ts`): a chosen port is claimed unless the
 * Service holds it, an unset one gets a free port from the range (or the port it shares with the
 * same port number on another protocol), and ports the new version drops are released.
 */
import { clusterIPClaimOps, DEFAULT_SERVICE_RANGE } from '../cluster-ips';
import { FerryError, InvalidError } from '../errors';
import {
  type ClaimRecord,
  claimRecord,
  NODE_PORT_CLAIM_KIND,
  type NodePortRange,
  needsNodePorts,
  nodePortsOf,
  ownerKey,
  type ServicePortLike,
} from '../node-ports';
import type { Obj, TransactOp } from '../store/types';
import type { ApiDeps } from './types';

export interface BundleWrite {
  /** The object as it will be stored; a Service's `spec.ports[].nodePort` is filled in here. */
  object: Obj;
  /** What is stored now (undefined: the object is created). */
  stored: Obj | undefined;
}

/**
 * Writes the bundle all or nothing and returns the stored objects in `writes` order. Throws what
 * `transact` throws: a ConflictError or AlreadyExistsError means something was written meanwhile
 * (an object, or a claim on a port picked here), and nothing of the bundle was; the caller
 * re-plans from the store and tries again.
 */
export async function commitBundle(deps: ApiDeps, range: NodePortRange, writes: BundleWrite[]): Promise<Obj[]> {
  const ipRange = deps.config.serviceRange ?? DEFAULT_SERVICE_RANGE;
  const claims = writes.some((w) => needsNodePorts(w.object) || w.stored?.kind === 'Service')
    ? [...(await clusterIPClaimOps(deps, ipRange, writes)), ...(await claimOps(deps, range, writes))]
    : [];
  const ops: TransactOp[] = writes.map((w) =>
    w.stored ? { op: 'update', object: w.object } : { op: 'create', object: w.object },
  );
  const stored = await deps.store.transact([...ops, ...claims]);
  return stored.slice(0, writes.length);
}

/** The claim creates and deletes the bundle's Services need, read from the claims stored now. */
async function claimOps(deps: ApiDeps, range: NodePortRange, writes: BundleWrite[]): Promise<TransactOp[]> {
  const held = new Map<number, ClaimRecord>();
  for (const c of (await deps.store.list<ClaimRecord>(NODE_PORT_CLAIM_KIND)).items)
    held.set(Number(c.metadata.name), c);
  const taken = new Set(held.keys());
  /** Ports claimed by this bundle, and for which Service. */
  const claimedHere = new Map<number, string>();
  const ops: TransactOp[] = [];
  const claim = (port: number, owner: string) => {
    taken.add(port);
    claimedHere.set(port, owner);
    ops.push({ op: 'create', object: claimRecord(port, owner, deps.clock()) });
  };
  const size = range.max - range.min + 1;
  let cursor = Math.floor(Math.random() * size);
  const freePort = (): number => {
    for (let tries = 0; tries < size; tries++, cursor = (cursor + 1) % size) {
      const candidate = range.min + cursor;
      if (!taken.has(candidate)) return candidate;
    }
    throw new FerryError(
      503,
      'ServiceUnavailable',
      `no node port is free in the range ${range.min}-${range.max}: delete a Service or widen the range`,
    );
  };

  for (const w of writes) {
    if (w.object.kind !== 'Service') continue;
    const owner = ownerKey(w.object);
    const ports: ServicePortLike[] = needsNodePorts(w.object)
      ? ((w.object.spec as { ports?: ServicePortLike[] } | undefined)?.ports ?? [])
      : [];
    for (const [i, p] of ports.entries()) {
      if (!p.nodePort) continue;
      const holder = held.get(p.nodePort)?.spec.service ?? claimedHere.get(p.nodePort);
      if (holder === owner) continue;
      if (holder !== undefined) {
        // Claimed by another Service since the bundle was checked (or by another in the bundle).
        throw new InvalidError('Service', w.object.metadata.name, [
          {
            field: `spec.ports[${i}].nodePort`,
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${p.nodePort}: provided port is already allocated`,
          },
        ]);
      }
      claim(p.nodePort, owner);
    }
    // A port and protocol the Service names twice (TCP and UDP on 53) may share one node port.
    const byPort = new Map<number, number>();
    for (const p of ports) if (p.nodePort) byPort.set(p.port, p.nodePort);
    for (const p of ports) {
      if (p.nodePort) continue;
      const shared = byPort.get(p.port);
      if (shared !== undefined && !ports.some((q) => q.nodePort === shared && q.protocol === p.protocol)) {
        p.nodePort = shared;
        continue;
      }
      p.nodePort = freePort();
      byPort.set(p.port, p.nodePort);
      claim(p.nodePort, owner);
    }
    const keep = new Set(nodePortsOf(w.object));
    for (const port of nodePortsOf(w.stored)) {
      const record = held.get(port);
      if (keep.has(port) || record?.spec.service !== owner) continue;
      ops.push({
        op: 'delete',
        ref: { kind: NODE_PORT_CLAIM_KIND, name: String(port) },
        resourceVersion: record.metadata.resourceVersion as string,
      });
    }
  }
  return ops;
}
