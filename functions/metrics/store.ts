/**
 * A StateStore decorator that counts and times every operation for `/metrics`
 * (`ferry_store_operations_total{operation,kind,result}`, `ferry_store_operation_duration_seconds{operation}`).
 * It goes under every other decorator (the runtime wraps the opened backend with it), so what it
 * counts is what reached the backend. Kinds are labels only while there are few of them: callers
 * name kinds from the registry and the store's own records, but a bound keeps a bug from growing the
 * label set. A batch or a transaction counts once, under its first op's kind.
 */
import type {
  ChangeListener,
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
} from '../store/types';

export type StoreObserver = (operation: string, kind: string, seconds: number, failed: boolean) => void;

const MAX_KINDS = 128;

export function instrumentStore(inner: StateStore, observe: StoreObserver): StateStore {
  const kinds = new Set<string>();
  const kindLabel = (kind: string | undefined): string => {
    if (kind === undefined) return '';
    if (kinds.has(kind)) return kind;
    if (kinds.size >= MAX_KINDS) return 'other';
    kinds.add(kind);
    return kind;
  };
  async function timed<T>(operation: string, kind: string | undefined, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let failed = true;
    try {
      const out = await run();
      failed = false;
      return out;
    } finally {
      observe(operation, kindLabel(kind), (performance.now() - started) / 1000, failed);
    }
  }
  const firstKind = (ops: readonly { object?: Obj; ref?: ObjectRef }[]) => ops[0]?.object?.kind ?? ops[0]?.ref?.kind;
  const store: StateStore = {
    get: <T extends Obj>(ref: ObjectRef, options?: ReadOptions) =>
      timed('get', ref.kind, () => inner.get<T>(ref, options)),
    list: <T extends Obj>(kind: string, options?: ListOptions): Promise<ListResult<T>> =>
      timed('list', kind, () => inner.list<T>(kind, options)),
    create: <T extends Obj>(obj: T) => timed('create', obj.kind, () => inner.create(obj)),
    update: <T extends Obj>(obj: T) => timed('update', obj.kind, () => inner.update(obj)),
    writeBatch: <T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> =>
      timed('writeBatch', firstKind(ops), () => inner.writeBatch(ops)),
    transact: (ops: TransactOp[]) =>
      timed('transact', firstKind(ops as { object?: Obj; ref?: ObjectRef }[]), () => inner.transact(ops)),
    delete: (ref: ObjectRef, options?: DeleteOptions) => timed('delete', ref.kind, () => inner.delete(ref, options)),
    acquireLease: (name: string, holder: string, ttlMs: number) =>
      timed('acquireLease', undefined, () => inner.acquireLease(name, holder, ttlMs)),
    releaseLease: (name: string, holder: string) =>
      timed('releaseLease', undefined, () => inner.releaseLease(name, holder)),
    watch: (listener: ChangeListener) => inner.watch(listener),
    close: () => inner.close(),
  };
  const renew = inner.renewLeaseObject?.bind(inner);
  if (renew)
    store.renewLeaseObject = (ref: ObjectRef, r: LeaseRenewal) => timed('renewLease', ref.kind, () => renew(ref, r));
  return store;
}
