/**
 * The built-in ingress' table as one internal record (`IngressTable`, name `ingress`): what every
 * node's ingress (agent/ingress/) must serve, written by the ingress controller and read by syncs.
 *
 * Why one record rather than the Ingresses themselves: a node's quiet sync must stay one read of
 * its NodeDesired record. The controller computes the table once per change, hashes it (with the
 * resourceVersions of the TLS Secrets it names, so a renewed certificate moves it) and, when the
 * hash moved, brings every node's record to it (`NodeDesired.spec.ingress`), as the routes'
 * fan-out does. A sync whose agent holds another hash reads this record and the Secrets it names.
 *
 * Secrets: the record holds only references. Their bytes are read at sync time, strongly
 * consistent and decrypted by the store as any Secret read, and go only into the answer to a node.
 */
import { createHash } from 'node:crypto';
import type { IngressCert, IngressDefault, IngressPathRule, IngressTable } from '../schemas/agent-protocol';
import type { Deps } from './deps';
import { isConflict, isLostRace, isNotFound } from './errors';
import { NODE_DESIRED_KIND, type NodeDesired, nodeDesiredRef, untracked } from './node-desired';
import { retryOnConflict } from './store/retry';
import type { Obj, ObjectRef } from './store/types';

export const INGRESS_TABLE_KIND = 'IngressTable';
export const INGRESS_TABLE_REF: ObjectRef = { kind: INGRESS_TABLE_KIND, name: 'ingress' };
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** A TLS entry as stored: the Secret by reference, never its bytes. */
export interface StoredCert {
  ingress: string;
  hosts: string[];
  secret: { namespace: string; name: string };
}

export interface IngressTableSpec {
  /** Hash of the table and of the resourceVersions of its Secrets: what nodes hold. */
  hash: string;
  rules: IngressPathRule[];
  defaults: IngressDefault[];
  tls: StoredCert[];
  /** The hash every NodeDesired record has been brought to. */
  fannedOut: string;
  /** The load balancer in front of the nodes' ingress ports, as last ensured. */
  loadBalancer?: {
    fingerprint: string;
    ingress: { ip?: string; hostname?: string; ports?: { port: number; protocol: string }[] };
  };
}
export type IngressTableRecord = Obj & { spec: IngressTableSpec };

export function tableHash(
  table: Omit<IngressTableSpec, 'hash' | 'fannedOut' | 'loadBalancer'>,
  secretVersions: string[],
): string {
  return createHash('sha256')
    .update(JSON.stringify([table.rules, table.defaults, table.tls, secretVersions]))
    .digest('base64url')
    .slice(0, 20);
}

/**
 * Writes the record when its table moved, then brings every node's record to its hash (one
 * batch; records bumped meanwhile are retried one by one), then marks the fan-out done.
 */
export async function publishIngressTable(
  deps: Deps,
  next: Omit<IngressTableSpec, 'fannedOut' | 'loadBalancer'>,
  loadBalancer: IngressTableSpec['loadBalancer'],
): Promise<void> {
  const store = untracked(deps.store);
  // Consistent: the write below is conditional on this read.
  let record = await store.get<IngressTableRecord>(INGRESS_TABLE_REF);
  const spec: IngressTableSpec = {
    ...next,
    fannedOut: record?.spec.fannedOut ?? '',
    ...(loadBalancer ? { loadBalancer } : {}),
  };
  const same = record && JSON.stringify(record.spec) === JSON.stringify(spec);
  if (!same) {
    try {
      record = record
        ? await store.update<IngressTableRecord>({ ...record, spec })
        : await store.create<IngressTableRecord>({
            apiVersion: 'ferry.dev/v1',
            kind: INGRESS_TABLE_KIND,
            metadata: { name: INGRESS_TABLE_REF.name },
            spec,
          });
    } catch (err) {
      // Another writer moved it meanwhile: the next pass recomputes.
      if (isConflict(err) || isNotFound(err)) return;
      throw err;
    }
  }
  if (record && record.spec.fannedOut !== record.spec.hash) await fanOut(deps, record);
}

async function fanOut(deps: Deps, record: IngressTableRecord): Promise<void> {
  const store = untracked(deps.store);
  const hash = record.spec.hash;
  // Consistent: a node whose record this list misses made it after the table moved, and its
  // first sync reads the table itself (functions/api/agent/ingress.ts).
  const nodes = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
  const behind = nodes.filter((n) => n.spec.ingress !== hash);
  const retry: string[] = [];
  const results = await store.writeBatch(
    behind.map((n) => ({ op: 'update' as const, object: { ...n, spec: { ...n.spec, ingress: hash } } })),
  );
  results.forEach((r, i) => {
    if (!r.ok && !isConflict(r.error) && !isNotFound(r.error)) throw r.error;
    if (!r.ok && isConflict(r.error)) retry.push(behind[i]?.metadata.name as string);
  });
  // Records bumped meanwhile (a pod or route change): one by one, from what the conflict carried.
  for (const name of retry) {
    await retryOnConflict(async (current) => {
      const fresh = (current as NodeDesired | undefined) ?? (await store.get<NodeDesired>(nodeDesiredRef(name)));
      if (!fresh || fresh.spec.ingress === hash) return;
      await store.update<NodeDesired>({ ...fresh, spec: { ...fresh.spec, ingress: hash } });
    }, 8).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }
  try {
    await store.update<IngressTableRecord>({ ...record, spec: { ...record.spec, fannedOut: hash } });
  } catch (err) {
    if (!isLostRace(err)) throw err;
  }
}

export interface IngressRead {
  hash: string;
  table: IngressTable;
}

/**
 * The table with its certificates, for a node's sync. A Secret gone or changed since the table
 * was hashed is read as it is now (an entry whose Secret went is left out: its hosts get no
 * HTTPS until the controller's next pass).
 */
export async function readIngressTable(deps: Deps): Promise<IngressRead> {
  // Consistent: a node's first sync must not be answered an older table than its record says.
  const record = await deps.store.get<IngressTableRecord>(INGRESS_TABLE_REF);
  if (!record) return { hash: '', table: { rules: [], defaults: [], tls: [] } };
  const tls: IngressCert[] = [];
  for (const c of record.spec.tls) {
    const secret = await deps.store.get<Obj & { type?: string; data?: Record<string, string> }>({
      kind: 'Secret',
      namespace: c.secret.namespace,
      name: c.secret.name,
    });
    const crt = secret?.data?.['tls.crt'];
    const key = secret?.data?.['tls.key'];
    if (secret?.type !== TLS_SECRET_TYPE || !crt || !key) continue;
    tls.push({
      ingress: c.ingress,
      hosts: c.hosts,
      cert: Buffer.from(crt, 'base64').toString('utf8'),
      key: Buffer.from(key, 'base64').toString('utf8'),
    });
  }
  return { hash: record.spec.hash, table: { rules: record.spec.rules, defaults: record.spec.defaults, tls } };
}
