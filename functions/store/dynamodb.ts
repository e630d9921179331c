/**
 * The StateStore for AWS Lambda: one DynamoDB table, conditional writes. Tested against dynalite
 * (a DynamoDB-compatible server) by the same conformance suite as the other backends.
 *
 * Layout (one table, `tableDefinition` below; serverless.yml declares the same):
 * - objects: `pk` = kind, `sk` = `namespace/name` (`/name` when cluster-scoped), `rv` = the
 *   resourceVersion as a number, `body` = the object's JSON, and `nodeKey` = `kind/nodeName` for
 *   objects bound to a node, the key of the sparse `by-node` index.
 * - `pk` = `~meta`, `sk` = `revision`: the revision counter every write increments first, so
 *   resourceVersions grow with every write across all Lambda instances (with gaps where a write
 *   then lost its condition).
 * - `pk` = `~lease`, `sk` = name: leases (holder, expires).
 *
 * Concurrency: create is `attribute_not_exists`; update and delete are conditional on the stored
 * `rv`, so of two writers exactly one wins; an update without a resourceVersion re-reads and
 * retries instead. A failed condition is told apart (NotFound or Conflict) by one consistent read.
 *
 * Differences from SQLite, by DynamoDB's nature: `list` by nodeName reads a global secondary index,
 * which is eventually consistent (the agent's next sync catches up); a list is not a snapshot (it
 * pages through the partition); objects are limited to 350 KB of JSON (DynamoDB items to 400 KB);
 * `watch` sees writes made through this instance only (other instances arrive through the periodic
 * resync; a DynamoDB stream trigger is the deployment's job).
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ResourceInUseException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { AlreadyExistsError, ConflictError, FerryError, NotFoundError } from '../errors';
import { clone, compareObjects, nodeNameOf, stampCreate, stampUpdate } from './object-meta';
import { compileLabelSelector } from './selector';
import type {
  ChangeEvent,
  ChangeListener,
  Clock,
  DeleteOptions,
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  ReadOptions,
  StateStore,
  WriteOp,
  WriteResult,
} from './types';

type Item = Record<string, { S: string } | { N: string }>;
type Attr = { S?: string; N?: string };

export const META_PARTITION = '~meta';
export const LEASE_PARTITION = '~lease';
const BY_NODE = 'by-node';
/** DynamoDB items are at most 400 KB; leave room for the keys and attribute names. */
export const MAX_OBJECT_BYTES = 350_000;
/** Writes in flight at once for writeBatch (each is its own conditional write). */
const BATCH_CONCURRENCY = 16;
const UNCONDITIONAL_RETRIES = 8;

export interface DynamoStoreOptions {
  table: string;
  /** Passed to DynamoDBClient: region, endpoint (a local DynamoDB-compatible server), credentials. */
  client?: DynamoDBClientConfig;
  clock?: Clock;
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

export class DynamoStore implements StateStore {
  private readonly listeners = new Set<ChangeListener>();
  private readonly table: string;
  private readonly clock: Clock;

  private constructor(
    private readonly db: DynamoDBClient,
    options: DynamoStoreOptions,
  ) {
    this.table = options.table;
    this.clock = options.clock ?? Date.now;
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
    return item ? (JSON.parse(item.body) as T) : undefined;
  }

  async list<T extends Obj>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const match = compileLabelSelector(options.labelSelector);
    const revision = await this.currentRevision();
    const query: QueryCommandInput =
      options.nodeName !== undefined
        ? {
            TableName: this.table,
            IndexName: BY_NODE,
            KeyConditionExpression: '#nk = :nk',
            ExpressionAttributeNames: { '#nk': 'nodeKey' },
            ExpressionAttributeValues: { ':nk': { S: `${kind}/${options.nodeName}` } },
          }
        : options.namespace !== undefined
          ? {
              TableName: this.table,
              ConsistentRead: options.consistent ?? true,
              KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :ns)',
              ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
              ExpressionAttributeValues: { ':pk': { S: kind }, ':ns': { S: `${options.namespace}/` } },
            }
          : {
              TableName: this.table,
              ConsistentRead: options.consistent ?? true,
              KeyConditionExpression: '#pk = :pk',
              ExpressionAttributeNames: { '#pk': 'pk' },
              ExpressionAttributeValues: { ':pk': { S: kind } },
            };
    const items: Obj[] = [];
    let start: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.send(`listing ${kind}`, () =>
        this.db.send(new QueryCommand({ ...query, ...(start ? { ExclusiveStartKey: start } : {}) })),
      );
      for (const item of page.Items ?? []) {
        const obj = JSON.parse((item.body as Attr).S as string) as Obj;
        if (options.namespace !== undefined && (obj.metadata.namespace ?? '') !== options.namespace) continue;
        if (match(obj.metadata.labels)) items.push(obj);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    items.sort(compareObjects);
    return { items: items as T[], resourceVersion: String(revision) };
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
    const gone = JSON.parse(old?.body?.S as string) as Obj;
    gone.metadata.resourceVersion = String(await this.nextRevision(doing));
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
    const out = stampCreate(obj, String(await this.nextRevision(doing)), this.clock());
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: this.item(out),
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
    for (let attempt = 0; ; attempt++) {
      const row = await this.read(obj.kind, obj.metadata.namespace, obj.metadata.name);
      if (!row) throw new NotFoundError(obj.kind, obj.metadata.name);
      const current = JSON.parse(row.body) as Obj;
      if (rv !== undefined && rv !== row.rv) throw new ConflictError(obj.kind, obj.metadata.name, current);
      const out = stampUpdate(current, obj, String(await this.nextRevision(doing)));
      try {
        await this.db.send(
          new PutItemCommand({
            TableName: this.table,
            Item: this.item(out),
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

  private item(obj: Obj): Item {
    const body = JSON.stringify(obj);
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
      rv: { N: obj.metadata.resourceVersion as string },
      body: { S: body },
    };
    const nodeName = nodeNameOf(obj);
    if (nodeName) item.nodeKey = { S: `${obj.kind}/${nodeName}` };
    return item;
  }

  private async read(
    kind: string,
    namespace: string | undefined,
    name: string,
    consistent = true,
  ): Promise<{ body: string; rv: string } | undefined> {
    const res = await this.send(`reading ${kind} ${name}`, () =>
      this.db.send(
        new GetItemCommand({ TableName: this.table, Key: key(kind, namespace, name), ConsistentRead: consistent }),
      ),
    );
    const item = res.Item as Record<string, Attr> | undefined;
    return item ? { body: item.body?.S as string, rv: item.rv?.N as string } : undefined;
  }

  private async nextRevision(doing: string): Promise<number> {
    const res = await this.send(doing, () =>
      this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: META_PARTITION }, sk: { S: 'revision' } },
          UpdateExpression: 'ADD #v :one',
          ExpressionAttributeNames: { '#v': 'value' },
          ExpressionAttributeValues: { ':one': { N: '1' } },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return Number((res.Attributes?.value as Attr | undefined)?.N);
  }

  private async currentRevision(): Promise<number> {
    const res = await this.send('reading the revision', () =>
      this.db.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { pk: { S: META_PARTITION }, sk: { S: 'revision' } },
          ConsistentRead: true,
        }),
      ),
    );
    return Number((res.Item?.value as Attr | undefined)?.N ?? 0);
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

function key(kind: string, namespace: string | undefined, name: string): Item {
  return { pk: { S: kind }, sk: { S: `${namespace ?? ''}/${name}` } };
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
