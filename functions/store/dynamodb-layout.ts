/**
 * Where the DynamoDB store keeps things: the table definition, the key of every object, the
 * shards of the kinds that grow large, and the item an object is written as. `dynamodb.ts`'s
 * header describes the layout; serverless.yml declares the same table.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { FerryError } from '../errors';
import { nodeNameOf } from './object-meta';
import type { Obj } from './types';

export type Item = Record<string, { S: string } | { N: string }>;

/** Store leases (`acquireLease`), not the Kubernetes Lease kind. */
export const LEASE_PARTITION = '~lease';
export const BY_NODE = 'by-node';
/** DynamoDB items are at most 400 KB; leave room for the keys and attribute names. */
export const MAX_OBJECT_BYTES = 350_000;

/**
 * Kinds that can grow to thousands of objects and take a write per heartbeat or per event: each is
 * spread over this many partitions (`Pod#0` ... `Pod#3`) so no one partition takes all their
 * writes (a DynamoDB partition takes at most 1,000 writes/s). A list of such a kind queries every
 * shard in parallel, so each shard costs a list one more read unit: four balances the two.
 * Changing a count moves objects to other partitions: it needs a migration of the table.
 */
export const SHARDS: Readonly<Record<string, number>> = { Pod: 4, Event: 4, Lease: 4 };

/** Every partition key objects of `kind` may have (what a list queries, what a stream filter names). */
export function partitionKeys(kind: string): string[] {
  const shards = SHARDS[kind];
  return shards ? Array.from({ length: shards }, (_, i) => `${kind}#${i}`) : [kind];
}

/** The key of one object: gets stay one GetItem, wherever the object's shard is. */
export function key(kind: string, namespace: string | undefined, name: string): Item {
  const sk = `${namespace ?? ''}/${name}`;
  const shards = SHARDS[kind];
  return { pk: { S: shards ? `${kind}#${fnv1a(sk) % shards}` : kind }, sk: { S: sk } };
}

/** 32-bit FNV-1a: stable across processes and releases, which is all a shard hash needs. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The item an object is stored as. `kind` is kept as an attribute too, so readers of the table
 * (a stream filter, an export) need not parse the shard suffix of `pk`.
 */
export function itemOf(obj: Obj, body = JSON.stringify(obj)): Item {
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_OBJECT_BYTES) {
    throw new FerryError(
      413,
      'RequestEntityTooLarge',
      `${obj.kind} ${obj.metadata.name} is ${bytes} bytes of JSON; the DynamoDB store keeps objects up to ${MAX_OBJECT_BYTES} bytes`,
    );
  }
  const item: Item = {
    ...key(obj.kind, obj.metadata.namespace, obj.metadata.name),
    kind: { S: obj.kind },
    rv: { N: obj.metadata.resourceVersion as string },
    body: { S: body },
  };
  const nodeName = nodeNameOf(obj);
  if (nodeName) item.nodeKey = { S: `${obj.kind}/${nodeName}` };
  // A Lease's holder and renewal beside its body: a renewal is one UpdateItem conditional on them
  // that writes only these (DynamoDbStore.renewLeaseObject), not a read and a Put of the body.
  if (obj.kind === 'Lease') {
    const spec = (obj.spec ?? {}) as { holderIdentity?: unknown; renewTime?: unknown };
    if (typeof spec.holderIdentity === 'string') item.holder = { S: spec.holderIdentity };
    if (typeof spec.renewTime === 'string') item.renewTime = { S: spec.renewTime };
  }
  return item;
}

/**
 * The object an item (or a stream image) holds: its body, with what a Lease renewal wrote beside
 * it laid over (the renewal time and the resourceVersion). Undefined for an item without a body.
 */
export function objectOf(item: Readonly<Record<string, { S?: string; N?: string } | undefined>>): Obj | undefined {
  const body = item.body?.S;
  if (body === undefined) return undefined;
  const obj = JSON.parse(body) as Obj;
  const renewTime = item.renewTime?.S;
  if (renewTime !== undefined && obj.kind === 'Lease') {
    obj.spec = { ...(obj.spec as object), renewTime };
    if (item.rv?.N !== undefined) obj.metadata.resourceVersion = item.rv.N;
  }
  return obj;
}

/** The table this store expects, as CreateTable input (serverless.yml declares the same). */
export function tableDefinition(table: string): CreateTableCommandInput {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'nodeKey', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: BY_NODE,
        KeySchema: [
          { AttributeName: 'nodeKey', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}
