/**
 * The embedded StateStore: one SQLite file (better-sqlite3), WAL mode.
 *
 * Durability: WAL with synchronous=NORMAL never loses a committed transaction when the process
 * crashes (the WAL is written before COMMIT returns); a power loss may lose the last transactions
 * since the most recent checkpoint sync, but never corrupts the file. That is the right trade for a
 * control plane whose agents report the truth again on their next sync.
 *
 * Concurrency: every write is one `BEGIN IMMEDIATE` transaction that bumps a global revision
 * counter, so resourceVersions are monotonic across processes sharing the file, and a conditional
 * update compares the stored revision inside the same transaction (exactly one writer wins).
 * busy_timeout makes a second process wait for the lock instead of failing.
 *
 * At rest: the file is created mode 0600 (SQLite gives its -wal and -shm files the database's
 * mode), an existing one is narrowed to 0600 at open, and `secure_delete` overwrites deleted
 * content with zeros so a deleted Secret does not linger in free pages. It does not reach WAL
 * frames already written: those stay until a checkpoint copies them back and later commits reuse
 * the WAL from its start, overwriting them. Secrets' values are encrypted above this file anyway
 * (`encrypted.ts`) when the operator gives a key.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AlreadyExistsError, ConflictError, FerryError, NotFoundError } from '../errors';
import { assertDistinct, clone, compareObjects, frozenCopy, nodeNameOf, stampCreate, stampUpdate } from './object-meta';
import { compileLabelSelector } from './selector';
import { ConfigRefsIndex } from './sqlite-config-refs';
import type {
  ChangeEvent,
  ChangeListener,
  Clock,
  DeleteOptions,
  LeaseRenewal,
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  StateStore,
  TransactOp,
  WriteOp,
  WriteResult,
} from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  rv INTEGER NOT NULL,
  node_name TEXT,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_node ON objects (kind, node_name) WHERE node_name IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL);
`;

type Row = { body: string; rv: number };

/** How much of the file reads map (`mmap_size`): more than a 5,000-node cluster's file. */
const MMAP_BYTES = 1 << 30;

/** Ops of a `writeBatch` per transaction (a few ms of work). */
export const BATCH_CHUNK = 64;
/** How long a `writeBatch` holds the event loop before other work runs (the controllers' slice). */
export const BATCH_SLICE_MS = 20;

export class SqliteStore implements StateStore {
  private readonly listeners = new Set<ChangeListener>();
  private readonly stmt;
  /** Which pods refer to which ConfigMaps and Secrets (`referringTo`): sqlite-config-refs.ts. */
  private readonly refs: ConfigRefsIndex;
  /**
   * One transaction wrapper for every call, given the work to run: better-sqlite3's
   * `db.transaction(fn)` builds its wrappers (deferred, immediate, exclusive) on every call, 6 us
   * of a lease renewal's 35 before anything is written.
   */
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
  ) {
    this.refs = new ConfigRefsIndex(db);
    this.tx = db.transaction((fn: () => unknown) => fn());
    this.stmt = {
      get: db.prepare<[string, string, string], Row>(
        'SELECT body, rv FROM objects WHERE kind = ? AND namespace = ? AND name = ?',
      ),
      listKind: db.prepare<[string], Row>('SELECT body, rv FROM objects WHERE kind = ? ORDER BY namespace, name'),
      listNs: db.prepare<[string, string], Row>(
        'SELECT body, rv FROM objects WHERE kind = ? AND namespace = ? ORDER BY name',
      ),
      // INDEXED BY: without table statistics the planner takes the primary key's `kind = ?` and
      // scans every Pod (9 ms a call at 10,000 pods, the top of a 1,000-node server's profile);
      // the by-node index answers in 0.05 ms.
      listNode: db.prepare<[string, string], Row>(
        'SELECT body, rv FROM objects INDEXED BY objects_by_node WHERE kind = ? AND node_name = ? ORDER BY namespace, name',
      ),
      insert: db.prepare('INSERT INTO objects (kind, namespace, name, rv, node_name, body) VALUES (?, ?, ?, ?, ?, ?)'),
      update: db.prepare(
        'UPDATE objects SET rv = ?, node_name = ?, body = ? WHERE kind = ? AND namespace = ? AND name = ?',
      ),
      remove: db.prepare('DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?'),
      bump: db.prepare<[], { value: number }>(
        "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
      ),
      revision: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'revision'"),
      lease: db.prepare<[string], { holder: string; expires: number }>(
        'SELECT holder, expires FROM leases WHERE name = ?',
      ),
      putLease: db.prepare(
        'INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires',
      ),
      dropLease: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
    };
  }

  static async open(path: string, clock: Clock = Date.now): Promise<SqliteStore> {
    try {
      if (path !== ':memory:') ownerOnly(path);
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('secure_delete = ON');
      // Reads straight from the OS page cache instead of a read() into SQLite's 2 MB cache each:
      // at 5,000 nodes the rows a sync reads (NodeDesired, Lease, token, Node) are tens of MB,
      // so nearly every get missed that cache and paid a system call. Address space, not memory.
      db.pragma(`mmap_size = ${MMAP_BYTES}`);
      db.exec(SCHEMA);
      const store = new SqliteStore(db, clock);
      store.write('indexing the ConfigMaps and Secrets pods refer to', () =>
        store.refs.build(() => store.stmt.listKind.all('Pod').map((row) => JSON.parse(row.body) as Obj)),
      );
      return store;
    } catch (err) {
      throw translate(err, `opening SQLite store ${path}`);
    }
  }

  async get<T extends Obj>(ref: ObjectRef): Promise<T | undefined> {
    const row = this.stmt.get.get(ref.kind, ref.namespace ?? '', ref.name);
    return row ? (JSON.parse(row.body) as T) : undefined;
  }

  async list<T extends Obj>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const match = compileLabelSelector(options.labelSelector);
    try {
      return this.inTransaction(() => {
        const rows =
          options.nodeName !== undefined
            ? this.stmt.listNode.all(kind, options.nodeName)
            : options.referringTo !== undefined && kind === 'Pod'
              ? this.refs.referring(options.referringTo)
              : options.namespace !== undefined
                ? this.stmt.listNs.all(kind, options.namespace)
                : this.stmt.listKind.all(kind);
        const items: Obj[] = [];
        for (const row of rows) {
          const obj = JSON.parse(row.body) as Obj;
          if (options.namespace !== undefined && (obj.metadata.namespace ?? '') !== options.namespace) continue;
          if (match(obj.metadata.labels)) items.push(obj);
        }
        if (options.nodeName !== undefined) items.sort(compareObjects);
        const revision = this.stmt.revision.get()?.value ?? 0;
        return { items: items as T[], resourceVersion: String(revision) };
      });
    } catch (err) {
      throw translate(err, `listing ${kind}`);
    }
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    const stored = this.write(`creating ${obj.kind} ${obj.metadata.name}`, () => this.createNow(obj));
    this.emit({ type: 'ADDED', object: stored });
    return stored; // nothing else holds it: the row is its serialization, watchers get copies
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    const stored = this.write(`updating ${obj.kind} ${obj.metadata.name}`, () => this.updateNow(obj));
    this.emit({ type: 'MODIFIED', object: stored });
    return stored;
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    const results: WriteResult<T>[] = [];
    let sliceStart = performance.now();
    for (let start = 0; start < ops.length; start += BATCH_CHUNK) {
      // Other work runs between chunks once the batch has held the loop for a slice: a scheduler
      // pass binding 500 pods was one transaction of 150-300 ms at 5,000 nodes, a loop turn every
      // agent's sync waited behind. Only after a slice, not after every chunk: each wait lets a
      // busy server's whole backlog run, which stretches the pass (fewer passes, fewer pods a
      // minute). The batch is not atomic across objects anyway (types.ts): chunks change only
      // how many commits it takes.
      if (start > 0 && performance.now() - sliceStart >= BATCH_SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      results.push(...this.writeChunk(ops.slice(start, start + BATCH_CHUNK)));
    }
    return results;
  }

  /** One transaction: a failed op has written nothing when it throws (every check comes before the revision bump), so the others commit together with one WAL append. */
  private writeChunk<T extends Obj>(ops: WriteOp<T>[]): WriteResult<T>[] {
    const results = this.write(`writing a batch of ${ops.length}`, () =>
      ops.map((op): WriteResult<T> => {
        try {
          return { ok: true, object: op.op === 'create' ? this.createNow(op.object) : this.updateNow(op.object) };
        } catch (err) {
          if (err instanceof FerryError) return { ok: false, error: err };
          throw err;
        }
      }),
    );
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as WriteResult<T>;
      if (r.ok) this.emit({ type: ops[i]?.op === 'create' ? 'ADDED' : 'MODIFIED', object: r.object });
    }
    return results;
  }

  private createNow<T extends Obj>(obj: T): T {
    const ns = obj.metadata.namespace ?? '';
    if (this.stmt.get.get(obj.kind, ns, obj.metadata.name)) throw new AlreadyExistsError(obj.kind, obj.metadata.name);
    const rv = this.nextRevision();
    const out = stampCreate(obj, String(rv), this.clock());
    this.stmt.insert.run(obj.kind, ns, obj.metadata.name, rv, nodeNameOf(out) ?? null, JSON.stringify(out));
    if (out.kind === 'Pod') this.refs.written(undefined, out);
    return out;
  }

  private updateNow<T extends Obj>(obj: T): T {
    const ns = obj.metadata.namespace ?? '';
    const row = this.stmt.get.get(obj.kind, ns, obj.metadata.name);
    if (!row) throw new NotFoundError(obj.kind, obj.metadata.name);
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== String(row.rv)) {
      throw new ConflictError(obj.kind, obj.metadata.name, JSON.parse(row.body) as Obj);
    }
    const current = JSON.parse(row.body) as Obj;
    const next = this.nextRevision();
    const out = stampUpdate(current, obj, String(next));
    this.stmt.update.run(next, nodeNameOf(out) ?? null, JSON.stringify(out), obj.kind, ns, obj.metadata.name);
    if (out.kind === 'Pod') this.refs.written(current, out);
    return out;
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    assertDistinct(ops);
    if (ops.length === 0) return [];
    // One BEGIN IMMEDIATE transaction: the first op that throws rolls every earlier one back.
    const stored = this.write(`committing a transaction of ${ops.length}`, () =>
      ops.map((op) =>
        op.op === 'create'
          ? this.createNow(op.object)
          : op.op === 'update'
            ? this.updateNow(op.object)
            : this.deleteNow(op.ref, op.resourceVersion),
      ),
    );
    ops.forEach((op, i) => {
      const type = op.op === 'create' ? 'ADDED' : op.op === 'update' ? 'MODIFIED' : 'DELETED';
      this.emit({ type, object: stored[i] as Obj });
    });
    return stored.map((o, i) => (ops[i]?.op === 'delete' ? clone(o) : o));
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<Obj> {
    const gone = this.write(`deleting ${ref.kind} ${ref.name}`, () => this.deleteNow(ref, options.resourceVersion));
    this.emit({ type: 'DELETED', object: gone });
    return clone(gone);
  }

  private deleteNow(ref: ObjectRef, rv: string | undefined): Obj {
    const ns = ref.namespace ?? '';
    const row = this.stmt.get.get(ref.kind, ns, ref.name);
    if (!row) throw new NotFoundError(ref.kind, ref.name);
    const current = JSON.parse(row.body) as Obj;
    if (rv !== undefined && rv !== String(row.rv)) throw new ConflictError(ref.kind, ref.name, current);
    this.stmt.remove.run(ref.kind, ns, ref.name);
    if (current.kind === 'Pod') this.refs.written(current, undefined);
    current.metadata.resourceVersion = String(this.nextRevision());
    return current;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.write(`acquiring lease ${name}`, () => {
      const now = this.clock();
      const lease = this.stmt.lease.get(name);
      if (lease && lease.holder !== holder && lease.expires > now) return false;
      this.stmt.putLease.run(name, holder, now + ttlMs);
      return true;
    });
  }

  /**
   * lease-renewal.ts's read, check and replace in one transaction, reading and parsing the Lease
   * once: every held sync renews its node's Lease, a thousand writes a second at 5,000 nodes.
   */
  async renewLeaseObject(ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj> {
    const stored = this.write(`renewing lease ${ref.name}`, () => {
      const ns = ref.namespace ?? '';
      const row = this.stmt.get.get('Lease', ns, ref.name);
      if (!row) throw new NotFoundError('Lease', ref.name);
      const current = JSON.parse(row.body) as Obj;
      const spec = (current.spec ?? {}) as { holderIdentity?: string; renewTime?: string };
      if (spec.holderIdentity !== renewal.holder || spec.renewTime !== renewal.previousRenewTime) {
        throw new ConflictError('Lease', ref.name, current);
      }
      const next = this.nextRevision();
      const out = stampUpdate(current, { ...current, spec: { ...spec, renewTime: renewal.renewTime } }, String(next));
      this.stmt.update.run(next, nodeNameOf(out) ?? null, JSON.stringify(out), 'Lease', ns, ref.name);
      return out;
    });
    this.emit({ type: 'MODIFIED', object: stored });
    return stored;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.write(`releasing lease ${name}`, () => this.stmt.dropLease.run(name, holder));
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  private nextRevision(): number {
    return (this.stmt.bump.get() as { value: number }).value;
  }

  /** Runs `fn` in one read (deferred) transaction: a list and its revision from one snapshot. */
  private inTransaction<R>(fn: () => R): R {
    return this.tx.deferred(fn) as R;
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction; translates SQLite errors at this boundary. */
  private write<R>(doing: string, fn: () => R): R {
    try {
      return this.tx.immediate(fn) as R;
    } catch (err) {
      throw translate(err, doing);
    }
  }

  /**
   * One frozen copy of the object for every listener, not a copy each: a server has half a dozen
   * listeners (watch cache, controllers' list cache and triggers, held syncs, token cache,
   * gauges), and at 2,000 nodes copying every write for each was a few percent of its CPU and its
   * garbage. Frozen, so no listener can change what the others see (types.ts, `watch`).
   */
  private emit(event: ChangeEvent): void {
    if (this.listeners.size === 0) return;
    const shared: ChangeEvent = { type: event.type, object: frozenCopy(event.object) };
    for (const listener of this.listeners) queueMicrotask(() => listener(shared));
  }
}

/**
 * The database and its WAL/SHM hold every Secret and token hash: readable by the owner only. A new
 * file is created 0600 before SQLite opens it (SQLite creates -wal and -shm with the database's
 * mode); a file from an older ferry is narrowed, with its -wal and -shm.
 */
function ownerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
}

function translate(err: unknown, doing: string): Error {
  if (err instanceof FerryError) return err;
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new FerryError(503, 'ServiceUnavailable', `${doing}: the SQLite file is locked by another writer; retry`);
  }
  return new FerryError(500, 'InternalError', `${doing}: ${code ? `${code}: ` : ''}${message}`);
}
