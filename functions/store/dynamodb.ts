/**
 * Longer than 400 lines because it is the one DynamoDB backend and the seam's rule is one file per
 * implementation (STYLE.md); its key layout and sharding already live in dynamodb-layout.ts and
 * its revision clock in revision-clock.ts, and what remains is the seam's ten operations.
 *
 * The StateStore for AWS Lambda: one DynamoDB table, conditional writes. Tested against dynalite
 * (a DynamoDB-compatible server) by the same conformance suite as the other backends; `transact`,
 * which dynalite lacks, against DynamoDB Local when the suite can fetch it.
 *
 * Layout (one table, `tableDefinition` in `dynamodb-layout.ts`; serverless.yml declares the same):
 * - objects: `pk` = kind, or `kind#shard` for the kinds that grow large (Pods, Events, Leases: the
 *   shard is a hash of namespace/name, see SHARDS), `sk` = `namespace/name` (`/name` when
 *   cluster-scoped), `kind` = the kind (readable without parsing `pk`), `rv` = the
 *   resourceVersion as a number, `body` = the object's JSON, and `nodeKey` = `kind/nodeName` for
 *   objects bound to a node, the key of the sparse `by-node` index.
 * - `pk` = `~lease`, `sk` = name: store leases (holder, expires).
 * There is no counter item: resourceVersions come from a hybrid logical clock per instance
 * (`revision-clock.ts`), so no item is read by every list or written by every write. A table
 * written by an older ferry (unsharded `Pod`/`Event`/`Lease` partitions, a `~meta` counter) needs
 * those items rewritten under their shard keys; the counter item can be deleted.
 *
 * Concurrency: create is `attribute_not_exists`; update and delete are conditional on the stored
 * `rv`, so of two writers exactly one wins; an update without a resourceVersion re-reads and
 * retries instead. A failed condition is told apart (NotFound or Conflict) by one consistent read.
 * `transact` is one TransactWriteItems (all or nothing, also across a crash of the caller), at
 * most 100 ops and 4 MB (DynamoDB's limits; more is a 413 before anything is written); each item
 * in it costs twice the write units of a plain write.
 *
 * Differences from SQLite, by DynamoDB's nature: resourceVersions order each object's history
 * and each instance's writes, not all writes (a list's resourceVersion is the newest version among
 * the objects it read, "0" for none); `list` by nodeName reads a global secondary index, which is
 * eventually consistent (the agent's next sync catches up); a list is not a snapshot (it pages
 * through the partitions, sharded kinds in parallel); objects are limited to 350 KB of JSON
 * (DynamoDB items to 400 KB); `watch` sees writes made through this instance only (other
 * instances arrive through the periodic resync; a DynamoDB stream trigger is the deployment's job).
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ResourceInUseException,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { AlreadyExistsError, ConflictError, FerryError, NotFoundError } from '../errors';
import {
  BY_NODE,
  type Item,
  itemOf,
  key,
  LEASE_PARTITION,
  objectOf,
  partitionKeys,
  tableDefinition,
} from './dynamodb-layout';
import { assertDistinct, clone, compareObjects, opRef, stampCreate, stampUpdate } from './object-meta';
import { RevisionClock } from './revision-clock';
import { compileLabelSelector } from './selector';
import type {
  ChangeEvent,
  ChangeListener,
  ChangeType,
  Clock,
  DeleteOptions,
  LeaseRenewal,
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  ReadOptions,
  StateStore,
  TransactOp,
  WriteOp,
  WriteResult,
} from './types';

export { LEASE_PARTITION, MAX_OBJECT_BYTES, partitionKeys, SHARDS, tableDefinition } from './dynamodb-layout';

type Attr = { S?: string; N?: string };

/** Writes in flight at once for writeBatch (each is its own conditional write). */
const BATCH_CONCURRENCY = 16;
const UNCONDITIONAL_RETRIES = 8;
/** TransactWriteItems' limits: 100 actions and 4 MB in all. */
export const MAX_TRANSACT_OPS = 100;
export const MAX_TRANSACT_BYTES = 4_000_000;

export interface DynamoStoreOptions {
  table: string;
  /** Passed to DynamoDBClient: region, endpoint (a local DynamoDB-compatible server), credentials. */
  client?: DynamoDBClientConfig;
  clock?: Clock;
}

export class DynamoStore implements StateStore {
  private readonly listeners = new Set<ChangeListener>();
  private readonly table: string;
  private readonly clock: Clock;
  private readonly revisions: RevisionClock;

  private constructor(
    private readonly db: DynamoDBClient,
    options: DynamoStoreOptions,
  ) {
    this.table = options.table;
    this.clock = options.clock ?? Date.now;
    this.revisions = new RevisionClock(this.clock);
  }

  /** Opens the store on an existing table (`ensureTable` creates one, for local use and tests). */
  static async open(options: DynamoStoreOptions): Promise<DynamoStore> {
    return new DynamoStore(new DynamoDBClient(options.client ?? {}), options);
  }

  /** Creates the table if it does not exist and waits until it is ACTIVE. */
  static async ensureTable(options: DynamoStoreOptions, timeoutMs = 60_000): Promise<void> {
    const db = new DynamoDBClient(options.client ?? {});
    try {
      try {
        await db.send(new CreateTableCommand(tableDefinition(options.table)));
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw translate(err, `creating table ${options.table}`);
      }
      // Polling rather than the SDK waiter, whose minimum delay is 20 s.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { Table } = await db.send(new DescribeTableCommand({ TableName: options.table }));
        if (Table?.TableStatus === 'ACTIVE') return;
        if (Date.now() > deadline) throw new Error(`table ${options.table} is not ACTIVE after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      db.destroy();
    }
  }

  async get<T extends Obj>(ref: ObjectRef, options: ReadOptions = {}): Promise<T | undefined> {
    const item = await this.read(ref.kind, ref.namespace, ref.name, options.consistent ?? true);
    return item ? (item.obj as T) : undefined;
  }

  async list<T extends Obj>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const match = compileLabelSelector(options.labelSelector);
    const queries: QueryCommandInput[] =
      options.nodeName !== undefined
        ? [
            {
              TableName: this.table,
              IndexName: BY_NODE,
              KeyConditionExpression: '#nk = :nk',
              ExpressionAttributeNames: { '#nk': 'nodeKey' },
              ExpressionAttributeValues: { ':nk': { S: `${kind}/${options.nodeName}` } },
            },
          ]
        : partitionKeys(kind).map(
            (pk): QueryCommandInput =>
              options.namespace !== undefined
                ? {
                    TableName: this.table,
                    ConsistentRead: options.consistent ?? true,
                    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :ns)',
                    ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
                    ExpressionAttributeValues: { ':pk': { S: pk }, ':ns': { S: `${options.namespace}/` } },
                  }
                : {
                    TableName: this.table,
                    ConsistentRead: options.consistent ?? true,
                    KeyConditionExpression: '#pk = :pk',
                    ExpressionAttributeNames: { '#pk': 'pk' },
                    ExpressionAttributeValues: { ':pk': { S: pk } },
                  },
          );
    // The shards of a kind are read in parallel: a sharded list takes one round trip, not four.
    const pages = await Promise.all(queries.map((q) => this.queryAll(kind, q)));
    const items: Obj[] = [];
    let newest = 0;
    for (const page of pages) {
      for (const item of page) {
        const rv = Number((item.rv as Attr).N);
        if (rv > newest) newest = rv;
        this.revisions.observe(rv);
        const obj = objectOf(item) as Obj;
        if (options.namespace !== undefined && (obj.metadata.namespace ?? '') !== options.namespace) continue;
        if (match(obj.metadata.labels)) items.push(obj);
      }
    }
    items.sort(compareObjects);
    // No counter to read: the newest version among what was read, which moves only when one of
    // these objects changes (a deletion can lower it; a watch is never served on this store).
    return { items: items as T[], resourceVersion: String(newest) };
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    const stored = await this.createNow(obj);
    this.emit({ type: 'ADDED', object: stored });
    return stored;
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    const stored = await this.updateNow(obj);
    this.emit({ type: 'MODIFIED', object: stored });
    return stored;
  }

  /**
   * One UpdateItem, no read: sets the renewal time (and a new resourceVersion) beside the Lease's
   * body, conditional on the holder and the renewal it replaces, and on the new resourceVersion
   * being above the stored one (an instance whose clock is behind must not move it backwards: it
   * gets a conflict, and the caller's read-and-replace takes the stored version into account).
   */
  async renewLeaseObject(ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj> {
    const doing = `renewing Lease ${ref.name}`;
    const rv = String(this.revisions.next());
    let res: { Attributes?: Record<string, Attr> };
    try {
      res = (await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key('Lease', ref.namespace, ref.name),
          UpdateExpression: 'SET #renew = :renew, #rv = :rv',
          ConditionExpression: '#holder = :holder AND #renew = :previous AND #rv < :rv',
          ExpressionAttributeNames: { '#renew': 'renewTime', '#rv': 'rv', '#holder': 'holder' },
          ExpressionAttributeValues: {
            ':renew': { S: renewal.renewTime },
            ':rv': { N: rv },
            ':holder': { S: renewal.holder },
            ':previous': { S: renewal.previousRenewTime },
          },
          ReturnValues: 'ALL_NEW',
        }),
      )) as { Attributes?: Record<string, Attr> };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw translate(err, doing);
      const current = await this.get({ ...ref, kind: 'Lease' });
      if (!current) throw new NotFoundError('Lease', ref.name);
      throw new ConflictError('Lease', ref.name, current);
    }
    const stored = objectOf(res.Attributes ?? {}) as Obj;
    this.emit({ type: 'MODIFIED', object: stored });
    return stored;
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    const results: WriteResult<T>[] = new Array(ops.length);
    let next = 0;
    const worker = async () => {
      while (next < ops.length) {
        const i = next++;
        const op = ops[i] as WriteOp<T>;
        try {
          results[i] = {
            ok: true,
            object: op.op === 'create' ? await this.create(op.object) : await this.update(op.object),
          };
        } catch (err) {
          if (!(err instanceof FerryError) || err.status >= 500) throw err;
          results[i] = { ok: false, error: err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, ops.length) }, worker));
    return results;
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    assertDistinct(ops);
    if (ops.length === 0) return [];
    if (ops.length > MAX_TRANSACT_OPS) {
      throw new FerryError(
        413,
        'RequestEntityTooLarge',
        `a transaction of ${ops.length} writes is more than the DynamoDB store commits atomically (${MAX_TRANSACT_OPS}, TransactWriteItems' limit): split it`,
      );
    }
    const doing = `committing a transaction of ${ops.length}`;
    // Hand-written, not retryOnConflict: it retries DynamoDB's cancellation (below the ConflictError it makes).
    for (let attempt = 1; ; attempt++) {
      const planned = await Promise.all(ops.map((op) => this.planTransactOp(op)));
      const bytes = planned.reduce((sum, p) => sum + p.bytes, 0);
      if (bytes > MAX_TRANSACT_BYTES) {
        throw new FerryError(
          413,
          'RequestEntityTooLarge',
          `a transaction of ${bytes} bytes is more than the DynamoDB store commits atomically (${MAX_TRANSACT_BYTES} bytes, TransactWriteItems' limit): split it`,
        );
      }
      try {
        await this.db.send(new TransactWriteItemsCommand({ TransactItems: planned.map((p) => p.write) }));
      } catch (err) {
        if (!(err instanceof TransactionCanceledException)) throw translate(err, doing);
        // Which op lost its condition, and whether to try again (an unconditional update lost a
        // race, or another transaction held an item): the reasons come in op order.
        const reasons = err.CancellationReasons ?? [];
        const lost = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
        const busy = reasons.some((r) => r.Code === 'TransactionConflict');
        if (lost < 0 && !busy) throw translate(err, doing);
        const failed = lost >= 0 ? (ops[lost] as TransactOp) : undefined;
        const retry = attempt < UNCONDITIONAL_RETRIES && (failed ? isUnconditional(failed) : true);
        if (retry) continue;
        throw await this.transactError(failed ?? (ops[0] as TransactOp));
      }
      ops.forEach((op, i) => {
        const type: ChangeType = op.op === 'create' ? 'ADDED' : op.op === 'update' ? 'MODIFIED' : 'DELETED';
        this.emit({ type, object: (planned[i] as PlannedWrite).result });
      });
      return planned.map((p) => clone(p.result));
    }
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<Obj> {
    const doing = `deleting ${ref.kind} ${ref.name}`;
    const rv = options.resourceVersion;
    let old: Record<string, Attr> | undefined;
    try {
      const res = await this.db.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: key(ref.kind, ref.namespace, ref.name),
          ConditionExpression: rv === undefined ? 'attribute_exists(#pk)' : 'attribute_exists(#pk) AND #rv = :rv',
          ExpressionAttributeNames: rv === undefined ? { '#pk': 'pk' } : { '#pk': 'pk', '#rv': 'rv' },
          ...(rv === undefined ? {} : { ExpressionAttributeValues: { ':rv': { N: numeric(rv) } } }),
          ReturnValues: 'ALL_OLD',
        }),
      );
      old = res.Attributes as Record<string, Attr> | undefined;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw translate(err, doing);
      const current = await this.get(ref);
      if (!current) throw new NotFoundError(ref.kind, ref.name);
      throw new ConflictError(ref.kind, ref.name, current);
    }
    const gone = objectOf(old ?? {}) as Obj;
    gone.metadata.resourceVersion = String(this.revisions.next(Number(old?.rv?.N)));
    this.emit({ type: 'DELETED', object: gone });
    return gone;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            pk: { S: LEASE_PARTITION },
            sk: { S: name },
            holder: { S: holder },
            expires: { N: String(now + ttlMs) },
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR #holder = :holder OR #expires <= :now',
          ExpressionAttributeNames: { '#pk': 'pk', '#holder': 'holder', '#expires': 'expires' },
          ExpressionAttributeValues: { ':holder': { S: holder }, ':now': { N: String(now) } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw translate(err, `acquiring lease ${name}`);
    }
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { pk: { S: LEASE_PARTITION }, sk: { S: name } },
          ConditionExpression: '#holder = :holder',
          ExpressionAttributeNames: { '#holder': 'holder' },
          ExpressionAttributeValues: { ':holder': { S: holder } },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw translate(err, `releasing lease ${name}`);
    }
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.db.destroy();
  }

  private async createNow<T extends Obj>(obj: T): Promise<T> {
    const doing = `creating ${obj.kind} ${obj.metadata.name}`;
    const out = stampCreate(obj, String(this.revisions.next()), this.clock());
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: itemOf(out),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': 'pk' },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new AlreadyExistsError(obj.kind, obj.metadata.name);
      throw translate(err, doing);
    }
    return out;
  }

  private async updateNow<T extends Obj>(obj: T): Promise<T> {
    const doing = `updating ${obj.kind} ${obj.metadata.name}`;
    const rv = obj.metadata.resourceVersion;
    // Hand-written, not retryOnConflict: the backend makes ConflictErrors; this retries its own failed condition.
    for (let attempt = 0; ; attempt++) {
      const row = await this.read(obj.kind, obj.metadata.namespace, obj.metadata.name);
      if (!row) throw new NotFoundError(obj.kind, obj.metadata.name);
      const current = row.obj;
      if (rv !== undefined && rv !== row.rv) throw new ConflictError(obj.kind, obj.metadata.name, current);
      const out = stampUpdate(current, obj, String(this.revisions.next(Number(row.rv))));
      try {
        await this.db.send(
          new PutItemCommand({
            TableName: this.table,
            Item: itemOf(out),
            ConditionExpression: '#rv = :rv',
            ExpressionAttributeNames: { '#rv': 'rv' },
            ExpressionAttributeValues: { ':rv': { N: row.rv } },
          }),
        );
        return out;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw translate(err, doing);
        // Changed or deleted since the read. Conditional: that is the caller's conflict (the next
        // read tells NotFound apart). Unconditional: read again and write over the newer object.
        if (attempt + 1 >= UNCONDITIONAL_RETRIES) throw new ConflictError(obj.kind, obj.metadata.name, current);
        if (rv !== undefined) {
          const fresh = await this.get({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
          if (!fresh) throw new NotFoundError(obj.kind, obj.metadata.name);
          throw new ConflictError(obj.kind, obj.metadata.name, fresh);
        }
      }
    }
  }

  /**
   * One op of a transaction as a TransactWriteItem, checked against what is stored now (a failing
   * check throws before anything is sent) and conditional on it (a write in between cancels all).
   */
  private async planTransactOp(op: TransactOp): Promise<PlannedWrite> {
    if (op.op === 'create') {
      const result = stampCreate(op.object, String(this.revisions.next()), this.clock());
      const item = itemOf(result);
      return {
        result,
        bytes: itemBytes(item),
        write: {
          Put: {
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': 'pk' },
          },
        },
      };
    }
    const ref = opRef(op);
    const row = await this.read(ref.kind, ref.namespace, ref.name);
    if (!row) throw new NotFoundError(ref.kind, ref.name);
    const current = row.obj;
    const rv = op.op === 'update' ? op.object.metadata.resourceVersion : op.resourceVersion;
    if (rv !== undefined && rv !== row.rv) throw new ConflictError(ref.kind, ref.name, current);
    const condition = {
      TableName: this.table,
      ConditionExpression: '#rv = :rv',
      ExpressionAttributeNames: { '#rv': 'rv' },
      ExpressionAttributeValues: { ':rv': { N: row.rv } },
    };
    const next = String(this.revisions.next(Number(row.rv)));
    if (op.op === 'delete') {
      current.metadata.resourceVersion = next;
      return {
        result: current,
        bytes: 100,
        write: { Delete: { ...condition, Key: key(ref.kind, ref.namespace, ref.name) } },
      };
    }
    const result = stampUpdate(current, op.object, next);
    const item = itemOf(result);
    return { result, bytes: itemBytes(item), write: { Put: { ...condition, Item: item } } };
  }

  /** The error a lost transaction condition means for `op`, read from what is stored now. */
  private async transactError(op: TransactOp): Promise<FerryError> {
    const ref = opRef(op);
    const current = await this.get(ref);
    if (op.op === 'create') {
      return current ? new AlreadyExistsError(ref.kind, ref.name) : new ConflictError(ref.kind, ref.name, undefined);
    }
    if (!current) return new NotFoundError(ref.kind, ref.name);
    return new ConflictError(ref.kind, ref.name, current);
  }

  private async queryAll(kind: string, query: QueryCommandInput): Promise<Record<string, Attr>[]> {
    const items: Record<string, Attr>[] = [];
    let start: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.send(`listing ${kind}`, () =>
        this.db.send(new QueryCommand({ ...query, ...(start ? { ExclusiveStartKey: start } : {}) })),
      );
      for (const item of page.Items ?? []) items.push(item as Record<string, Attr>);
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async read(
    kind: string,
    namespace: string | undefined,
    name: string,
    consistent = true,
  ): Promise<{ obj: Obj; rv: string } | undefined> {
    const res = await this.send(`reading ${kind} ${name}`, () =>
      this.db.send(
        new GetItemCommand({ TableName: this.table, Key: key(kind, namespace, name), ConsistentRead: consistent }),
      ),
    );
    const item = res.Item as Record<string, Attr> | undefined;
    if (!item) return undefined;
    this.revisions.observe(Number(item.rv?.N));
    return { obj: objectOf(item) as Obj, rv: item.rv?.N as string };
  }

  private async send<R>(doing: string, call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (err) {
      throw translate(err, doing);
    }
  }

  private emit(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      const copy = { type: event.type, object: clone(event.object) };
      queueMicrotask(() => listener(copy));
    }
  }
}

interface PlannedWrite {
  write: TransactWriteItem;
  /** What the op stores (a delete: the object as it was, with its deletion's resourceVersion). */
  result: Obj;
  bytes: number;
}

function isUnconditional(op: TransactOp): boolean {
  return op.op === 'update'
    ? op.object.metadata.resourceVersion === undefined
    : op.op === 'delete' && op.resourceVersion === undefined;
}

function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += name.length + Buffer.byteLength('S' in value ? value.S : value.N);
  return bytes;
}

/** A resourceVersion in a condition: a non-numeric one can match nothing, so it is a conflict. */
function numeric(rv: string): string {
  return /^\d+$/.test(rv) ? rv : '-1';
}

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionInProgressException',
]);

function translate(err: unknown, doing: string): Error {
  if (err instanceof FerryError) return err;
  const name = (err as { name?: string }).name ?? '';
  if (THROTTLED.has(name)) {
    return new FerryError(
      503,
      'ServiceUnavailable',
      `${doing}: DynamoDB is throttling or unavailable (${name}); retry`,
    );
  }
  return new FerryError(500, 'InternalError', `${doing}: ${name ? `${name}: ` : ''}${(err as Error).message}`);
}
