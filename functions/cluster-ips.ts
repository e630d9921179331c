/**
 * Cluster IPs. Every Service of type ClusterIP, NodePort or LoadBalancer gets one IPv4 address from
 * the service range (default 10.96.0.0/16, Kubernetes' `--service-cluster-ip-range`); no two
 * Services share one. Headless Services (`clusterIP: None`) and ExternalName Services get none.
 *
 * Claims work as node port claims do (functions/node-ports.ts): an internal kind
 * (`ClusterIPClaim`, not served by the API) named by the address, whose store create is the atomic
 * claim, made before the Service is written and released if that write fails. A process that dies
 * in between leaves a claim no Service holds, which the repair pass
 * (functions/controllers/cluster-ip-repair.ts) releases after CLAIM_REPAIR_AGE_MS.
 *
 * Like Kubernetes' allocator (KEP-3070, static subrange), addresses are handed out from the upper
 * part of the range first, so the lower part stays free for addresses users choose (a DNS Service
 * at 10.96.0.10); the range's network and broadcast addresses are never used, and the first address
 * (10.96.0.1) belongs to the `kubernetes` Service (functions/kubernetes-service.ts): never handed
 * out, and refused to any other Service that asks for it.
 */
import { formatIPv4, parseIPv4 } from '../schemas/ipv4';
import type { Deps } from './deps';
import { FerryError, InvalidError, isAlreadyExists, isLostRace, type StatusCause } from './errors';
import { ownerKey, serviceRef } from './node-ports';
import type { Obj, TransactOp } from './store/types';

export const CLUSTER_IP_CLAIM_KIND = 'ClusterIPClaim';
/** Who may hold the range's first address (`ownerKey` of the `kubernetes` Service). */
const KUBERNETES_OWNER = 'default/kubernetes';

export interface ServiceRange {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** `10.96.0.0/16`, as printed in messages. */
  text: string;
}

export interface ClusterIPClaim extends Obj {
  spec: { service: string; claimedAt: number };
}

interface ServiceSpecLike {
  type?: unknown;
  clusterIP?: unknown;
  clusterIPs?: unknown;
}

/** `10.96.0.0/16`; throws with the reason when the text is not an IPv4 range ferry can allocate from. */
export function parseServiceRange(text: string): ServiceRange {
  const m = /^\s*([0-9.]+)\/(\d{1,2})\s*$/.exec(text);
  const ip = m ? parseIPv4(m[1] as string) : undefined;
  const prefix = Number(m?.[2]);
  // /30 leaves two usable addresses, one of them reserved for the first-address rule; /12 is
  // Kubernetes' largest (the allocator's bitmap would be too big beyond it).
  if (ip === undefined || !(prefix >= 12 && prefix <= 29)) {
    throw new Error(`service cluster IP range "${text}" must be an IPv4 CIDR such as 10.96.0.0/16, from /12 to /29`);
  }
  const size = 2 ** (32 - prefix);
  const base = ip - (ip % size);
  if (base !== ip)
    throw new Error(
      `service cluster IP range "${text}" has host bits set (did you mean ${formatIPv4(base)}/${prefix}?)`,
    );
  return { base, prefix, text: `${formatIPv4(base)}/${prefix}` };
}

export const DEFAULT_SERVICE_RANGE: ServiceRange = parseServiceRange('10.96.0.0/16');

const sizeOf = (range: ServiceRange) => 2 ** (32 - range.prefix);

/** Inside the range and neither its network nor its broadcast address. */
export function inRange(range: ServiceRange, ip: number): boolean {
  return ip > range.base && ip < range.base + sizeOf(range) - 1;
}

function specOf(svc: Obj | undefined): ServiceSpecLike | undefined {
  const spec = svc?.spec;
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? (spec as ServiceSpecLike) : undefined;
}

/** Services that have a cluster IP: not ExternalName, not headless. */
export function needsClusterIP(svc: Obj | undefined): boolean {
  const spec = specOf(svc);
  return svc?.kind === 'Service' && spec !== undefined && spec.type !== 'ExternalName' && spec.clusterIP !== 'None';
}

/** The cluster IP a Service holds (or asks for): a non-empty address, not `None`. */
export function clusterIPOf(svc: Obj | undefined): string | undefined {
  if (!needsClusterIP(svc)) return undefined;
  const ip = specOf(svc)?.clusterIP;
  return typeof ip === 'string' && ip !== '' ? ip : undefined;
}

function fieldOf(svc: Obj): string {
  const spec = specOf(svc);
  return spec?.clusterIP === undefined && Array.isArray(spec?.clusterIPs) ? 'spec.clusterIPs[0]' : 'spec.clusterIP';
}

/**
 * A chosen cluster IP outside the range (or its network/broadcast address). Malformed addresses
 * are validation's (schemas/rules/service.ts); this only looks at well-formed ones.
 */
export function checkClusterIP(svc: Obj, range: ServiceRange, prefix = ''): StatusCause[] {
  const ip = clusterIPOf(svc);
  const n = ip === undefined ? undefined : parseIPv4(ip);
  if (n === range.base + 1 && ownerKey(svc) !== KUBERNETES_OWNER)
    return [
      {
        field: `${prefix}${fieldOf(svc)}`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${ip}": failed to allocate IP ${ip}: it is reserved for the kubernetes Service in default (the range's first address)`,
      },
    ];
  if (ip === undefined || n === undefined || inRange(range, n)) return [];
  return [
    {
      field: `${prefix}${fieldOf(svc)}`,
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${ip}": failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is ${range.text}`,
    },
  ];
}

function alreadyAllocated(svc: Obj, ip: string, prefix = ''): StatusCause {
  return {
    field: `${prefix}${fieldOf(svc)}`,
    reason: 'FieldValueInvalid',
    message: `Invalid value: "${ip}": failed to allocate IP ${ip}: provided IP is already allocated`,
  };
}

/**
 * Everything a write would refuse about the Service's cluster IP, claiming nothing (dry runs,
 * apply's check). `bundle` (address -> who chose it) finds one address chosen twice in an apply
 * bundle; this Service is added to it as `label`.
 */
export async function clusterIPProblems(
  deps: Deps,
  svc: Obj,
  range: ServiceRange,
  prefix = '',
  bundle?: Map<string, string>,
  label = '',
): Promise<StatusCause[]> {
  const causes = checkClusterIP(svc, range, prefix);
  const ip = clusterIPOf(svc);
  if (causes.length > 0 || ip === undefined || parseIPv4(ip) === undefined) return causes;
  const other = bundle?.get(ip);
  bundle?.set(ip, label);
  if (other !== undefined) {
    const message = `${ip} is also chosen by ${other}`;
    return [{ field: `${prefix}${fieldOf(svc)}`, reason: 'FieldValueDuplicate', message }];
  }
  const claim = await deps.store.get<ClusterIPClaim>({ kind: CLUSTER_IP_CLAIM_KIND, name: ip });
  return claim && claim.spec.service !== ownerKey(svc) ? [alreadyAllocated(svc, ip, prefix)] : [];
}

/**
 * A 503 when the Service would need a new address and the range has none left, read before
 * anything is claimed so a full range writes nothing (claims of addresses outside the range, left
 * from a range since changed, do not count).
 */
export async function checkRangeHasRoom(deps: Deps, svc: Obj, range: ServiceRange): Promise<void> {
  if (!needsClusterIP(svc) || clusterIPOf(svc) !== undefined) return;
  const capacity = sizeOf(range) - 3;
  const held = (await deps.store.list<ClusterIPClaim>(CLUSTER_IP_CLAIM_KIND)).items.filter((c) => {
    const n = parseIPv4(c.metadata.name);
    return n !== undefined && inRange(range, n) && n !== range.base + 1;
  });
  if (held.length >= capacity) throw rangeFull(range);
}

export function clusterIPClaimRecord(ip: string, owner: string, now: number): ClusterIPClaim {
  return {
    apiVersion: 'ferry.dev/v1',
    kind: CLUSTER_IP_CLAIM_KIND,
    metadata: { name: ip },
    spec: { service: owner, claimedAt: now },
  };
}

async function claim(deps: Deps, ip: string, owner: string): Promise<'new' | 'ours' | 'taken'> {
  try {
    await deps.store.create<ClusterIPClaim>(clusterIPClaimRecord(ip, owner, deps.clock()));
    return 'new';
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const existing = await deps.store.get<ClusterIPClaim>({ kind: CLUSTER_IP_CLAIM_KIND, name: ip });
    return existing?.spec.service === owner ? 'ours' : 'taken';
  }
}

/**
 * Candidate addresses in the order they are handed out: from a random point of the upper part of
 * the range (above the static band, Kubernetes' size: min(max(16, size/16), 256)), then the lower
 * part from a random point; never the network, broadcast or first address.
 */
export function* candidates(range: ServiceRange, random: () => number = Math.random): Generator<number> {
  const size = sizeOf(range);
  const first = range.base + 2;
  const last = range.base + size - 2;
  const staticBand = Math.min(Math.max(16, Math.floor(size / 16)), 256);
  const split = Math.min(last + 1, range.base + staticBand);
  for (const [lo, hi] of [
    [Math.max(first, split), last],
    [first, Math.min(last, split - 1)],
  ] as const) {
    const count = hi - lo + 1;
    if (count <= 0) continue;
    const start = Math.floor(random() * count);
    for (let i = 0; i < count; i++) yield lo + ((start + i) % count);
  }
}

export function rangeFull(range: ServiceRange): FerryError {
  return new FerryError(
    503,
    'ServiceUnavailable',
    `no cluster IP is free in the range ${range.text}: delete a Service or widen the range`,
  );
}

/**
 * Gives `svc` its cluster IP (mutated: `spec.clusterIP` and `spec.clusterIPs` filled in): a chosen
 * one is claimed unless the Service holds it, none chosen gets a free one. Returns the address
 * this call claimed (release it if the Service write fails). 422 naming the field when the chosen
 * address is outside the range or another Service's; 503 when the range is full.
 */
export async function claimClusterIP(deps: Deps, svc: Obj, range: ServiceRange): Promise<string | undefined> {
  if (!needsClusterIP(svc)) return undefined;
  const causes = checkClusterIP(svc, range);
  if (causes.length > 0) throw new InvalidError('Service', svc.metadata.name, causes);
  const spec = specOf(svc) as ServiceSpecLike;
  const owner = ownerKey(svc);
  const chosen = clusterIPOf(svc);
  if (chosen !== undefined) {
    const result = await claim(deps, chosen, owner);
    if (result === 'taken') throw new InvalidError('Service', svc.metadata.name, [alreadyAllocated(svc, chosen)]);
    spec.clusterIPs = [chosen];
    return result === 'new' ? chosen : undefined;
  }
  const inUse = new Set(
    (await deps.store.list<ClusterIPClaim>(CLUSTER_IP_CLAIM_KIND)).items.map((c) => c.metadata.name),
  );
  for (const n of candidates(range)) {
    const ip = formatIPv4(n);
    if (inUse.has(ip)) continue;
    if ((await claim(deps, ip, owner)) === 'new') {
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      return ip;
    }
  }
  throw rangeFull(range);
}

/** Releases `owner`'s claim on `ip`; a claim another Service holds is left alone. */
export async function releaseClusterIP(deps: Deps, ip: string | undefined, owner: string): Promise<void> {
  if (ip === undefined) return;
  const ref = { kind: CLUSTER_IP_CLAIM_KIND, name: ip };
  const existing = await deps.store.get<ClusterIPClaim>(ref);
  if (existing?.spec.service !== owner) return;
  try {
    await deps.store.delete(ref, { resourceVersion: existing.metadata.resourceVersion as string });
  } catch (err) {
    if (!isLostRace(err)) throw err;
  }
}

/**
 * Writes a Service with its cluster IP: claims it, runs `write`, then releases the address the
 * previous version held if this one holds another (a type changed to ExternalName). A failed
 * write releases what it claimed.
 */
export async function writeServiceWithClusterIP<T extends Obj>(
  deps: Deps,
  range: ServiceRange,
  next: Obj,
  stored: Obj | undefined,
  write: (obj: Obj) => Promise<T>,
): Promise<T> {
  if (next.kind !== 'Service') return write(next);
  const claimed = await claimClusterIP(deps, next, range);
  let written: T;
  try {
    written = await write(next);
  } catch (err) {
    // As for node ports (node-ports.ts): an address another writer of this Service wrote stays claimed.
    const held = claimed !== undefined && clusterIPOf(await deps.store.get(serviceRef(next))) === claimed;
    if (!held) await releaseClusterIP(deps, claimed, ownerKey(next));
    throw err;
  }
  const before = clusterIPOf(stored);
  if (before !== undefined && before !== clusterIPOf(written)) await releaseClusterIP(deps, before, ownerKey(next));
  return written;
}

/**
 * The claim creates and deletes an apply bundle's Services need for their cluster IPs, as one
 * write makes them (claimClusterIP), for one `store.transact` with the objects
 * (functions/api/apply-commit.ts). Each write's object gets its address filled in. A chosen
 * address claimed since the bundle was checked is a 422; one picked here and claimed meanwhile
 * fails the transaction (AlreadyExists), and the caller re-plans.
 */
export async function clusterIPClaimOps(
  deps: Deps,
  range: ServiceRange,
  writes: { object: Obj; stored: Obj | undefined }[],
): Promise<TransactOp[]> {
  if (!writes.some((w) => w.object.kind === 'Service' || w.stored?.kind === 'Service')) return [];
  const held = new Map<string, ClusterIPClaim>();
  for (const c of (await deps.store.list<ClusterIPClaim>(CLUSTER_IP_CLAIM_KIND)).items) held.set(c.metadata.name, c);
  const claimedHere = new Map<string, string>();
  const ops: TransactOp[] = [];
  const take = (ip: string, owner: string) => {
    claimedHere.set(ip, owner);
    ops.push({ op: 'create', object: clusterIPClaimRecord(ip, owner, deps.clock()) });
  };
  for (const w of writes) {
    if (w.object.kind !== 'Service') continue;
    const owner = ownerKey(w.object);
    if (needsClusterIP(w.object)) {
      const causes = checkClusterIP(w.object, range);
      if (causes.length > 0) throw new InvalidError('Service', w.object.metadata.name, causes);
      const spec = specOf(w.object) as ServiceSpecLike;
      const chosen = clusterIPOf(w.object);
      if (chosen !== undefined) {
        const holder = held.get(chosen)?.spec.service ?? claimedHere.get(chosen);
        if (holder !== undefined && holder !== owner)
          throw new InvalidError('Service', w.object.metadata.name, [alreadyAllocated(w.object, chosen)]);
        if (holder === undefined) take(chosen, owner);
        spec.clusterIPs = [chosen];
      } else {
        let found: string | undefined;
        for (const n of candidates(range)) {
          const ip = formatIPv4(n);
          if (!held.has(ip) && !claimedHere.has(ip)) {
            found = ip;
            break;
          }
        }
        if (found === undefined) throw rangeFull(range);
        take(found, owner);
        spec.clusterIP = found;
        spec.clusterIPs = [found];
      }
    }
    const before = clusterIPOf(w.stored);
    const record = before === undefined ? undefined : held.get(before);
    if (before !== undefined && before !== clusterIPOf(w.object) && record?.spec.service === owner) {
      ops.push({
        op: 'delete',
        ref: { kind: CLUSTER_IP_CLAIM_KIND, name: before },
        resourceVersion: record.metadata.resourceVersion as string,
      });
    }
  }
  return ops;
}
