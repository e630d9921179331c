/**
 * Secrets encrypted at rest: a StateStore decorator (`index.ts` puts it over every backend) that
 * encrypts a Secret's `data` and `stringData` with AES-256-GCM before the backend sees them and
 * decrypts them on every way out (get, list, write results, Conflict errors, watch events), as
 * Kubernetes' EncryptionConfiguration does for etcd. The backend keeps the Secret with those two
 * fields replaced by one string (`sealed-value.ts`), authenticated with the Secret's
 * kind/namespace/name so a ciphertext copied onto another Secret does not decrypt. Metadata
 * (names, labels) and `type` stay readable: selectors and authorization need them.
 *
 * Where keys come from, first match seals: a KMS key (`kms-keys.ts`, envelope encryption, the
 * `kms` provider), else the first operator key (`encryption-keys.ts`, the `aesgcm` provider).
 * Every configured source decrypts, so moving from operator keys to KMS, or from one KMS key to
 * another, is a configuration change plus `rewriteSecrets` (the runtimes call it at start): it
 * rewrites every Secret not sealed by the current source, then the old key can go. A Secret stored
 * before any key was given is read as it is and sealed at its next write.
 *
 * Failures are loud, never an empty Secret: a ciphertext whose key is not configured, or that
 * fails authentication, is a 500 naming the Secret and the key; KMS not answering is a 503 and the
 * write or read fails (nothing is stored in plaintext because KMS is down). With no keys at all
 * Secrets are written as they are (the runtimes warn).
 */
import { ConflictError, FerryError } from '../errors';
import type { Logger } from '../log';
import type { EncryptionKey } from './encryption-keys';
import type { KmsDataKeys } from './kms-keys';
import { renewByReplace } from './lease-renewal';
import { refOf } from './object-meta';
import { formatSealed, openBody, parseSealed, type SealedValue, sealBody } from './sealed-value';
import type {
  ChangeListener,
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

const KIND = 'Secret';
/** The stored field that replaces `data` and `stringData`. */
export const ENCRYPTED_FIELD = 'encrypted';

export class EncryptedStore implements StateStore {
  constructor(
    private readonly inner: StateStore,
    private readonly keys: EncryptionKey[],
    private readonly kms?: KmsDataKeys,
  ) {}

  async get<T extends Obj>(ref: ObjectRef): Promise<T | undefined> {
    const obj = await this.inner.get<T>(ref);
    return obj && this.open(obj);
  }

  async list<T extends Obj>(kind: string, options?: ListOptions): Promise<ListResult<T>> {
    const result = await this.inner.list<T>(kind, options);
    if (kind !== KIND) return result;
    return { ...result, items: await Promise.all(result.items.map((o) => this.open(o))) };
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    const sealed = await this.seal(obj);
    return this.open(await this.guard(this.inner.create(sealed)));
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    const sealed = await this.seal(obj);
    return this.open(await this.guard(this.inner.update(sealed)));
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    const sealed = await Promise.all(ops.map(async (op) => ({ ...op, object: await this.seal(op.object) })));
    const results = await this.inner.writeBatch(sealed);
    return Promise.all(
      results.map(async (r, i): Promise<WriteResult<T>> => {
        if (ops[i]?.object.kind !== KIND) return r;
        return r.ok
          ? { ok: true, object: await this.open(r.object) }
          : { ok: false, error: await this.openError(r.error) };
      }),
    );
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    const sealed = await Promise.all(
      ops.map(async (op) => (op.op === 'delete' ? op : { ...op, object: await this.seal(op.object) })),
    );
    const results = await this.guard(this.inner.transact(sealed));
    return Promise.all(results.map((o) => this.open(o)));
  }

  async delete(ref: ObjectRef, options?: DeleteOptions): Promise<Obj> {
    return this.open(await this.guard(this.inner.delete(ref, options)));
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.inner.acquireLease(name, holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.inner.releaseLease(name, holder);
  }

  /** Leases hold nothing sealed: the inner store's renewal, or a read and a replace here. */
  renewLeaseObject(ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj> {
    return this.inner.renewLeaseObject ? this.inner.renewLeaseObject(ref, renewal) : renewByReplace(this, ref, renewal);
  }

  watch(listener: ChangeListener): () => void {
    return this.inner.watch((event) => {
      if (event.object.kind !== KIND) return listener(event);
      // Only this instance's own writes arrive here, sealed with a key it holds in memory; should
      // one not open (a key that expired meanwhile), watchers still learn that the Secret changed,
      // without its values.
      const opened = this.openHeld(event.object);
      if (opened) return listener({ type: event.type, object: opened });
      const { [ENCRYPTED_FIELD]: _sealed, ...rest } = event.object;
      listener({ type: event.type, object: rest as Obj });
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Rewrites every Secret that is stored in plaintext or not under the current key (another KMS
   * key, an operator key other than the first), so an old key can be removed (rotation) and
   * Secrets from before encryption get encrypted. A Secret written meanwhile is skipped (that
   * write sealed it with the current key). Returns how many were rewritten, and the Secrets that
   * could not be decrypted with any configured key. KMS not answering throws (a 503).
   */
  async rewriteSecrets(): Promise<{ rewritten: number; unreadable: string[] }> {
    const current = await this.currentSealer('rewriting Secrets under the current key');
    let rewritten = 0;
    const unreadable: string[] = [];
    for (const stored of (await this.inner.list(KIND)).items) {
      const parsed = parseSealed(stored[ENCRYPTED_FIELD]);
      if (parsed && current && sealedBy(parsed) === current) continue;
      let plain: Obj;
      try {
        plain = await this.open(stored);
      } catch (err) {
        if (err instanceof FerryError && err.status === 503) throw err;
        unreadable.push(`${stored.metadata.namespace}/${stored.metadata.name}`);
        continue;
      }
      // Without a key there is nothing to seal with: plaintext stays plaintext.
      if (!current) continue;
      try {
        await this.inner.update(await this.seal(plain));
        rewritten++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return { rewritten, unreadable };
  }

  /** Who seals new writes, in `sealedBy`'s terms; undefined when nothing does. */
  private async currentSealer(what: string): Promise<string | undefined> {
    if (this.kms) return `kms:${await this.kms.currentKeyArn(what)}`;
    const primary = this.keys[0];
    return primary && `aesgcm:${primary.name}`;
  }

  /** `obj` as the backend keeps it: a Secret's values sealed with the current key, if there is one. */
  private async seal<T extends Obj>(obj: T): Promise<T> {
    if (obj.kind !== KIND) return obj;
    const primary = this.keys[0];
    if (!this.kms && !primary) return obj;
    const { data, stringData, [ENCRYPTED_FIELD]: _old, ...rest } = obj as Obj;
    const payload: Record<string, unknown> = {};
    if (data !== undefined) payload.data = data;
    if (stringData !== undefined) payload.stringData = stringData;
    const text = JSON.stringify(payload);
    let value: SealedValue;
    if (this.kms) {
      const key = await this.kms.sealingKey(`storing Secret ${nameOf(obj)}`);
      value = { scheme: 'kms', keyArn: key.keyArn, wrapped: key.wrapped, body: sealBody(key.secret, text, aadOf(obj)) };
    } else {
      const key = primary as EncryptionKey;
      value = { scheme: 'aesgcm', keyName: key.name, body: sealBody(key.secret, text, aadOf(obj)) };
    }
    return { ...rest, [ENCRYPTED_FIELD]: formatSealed(value) } as unknown as T;
  }

  /** `obj` as callers see it: a sealed Secret's values decrypted. Throws a 500 (or KMS's 503). */
  private async open<T extends Obj>(obj: T): Promise<T> {
    const sealed = obj[ENCRYPTED_FIELD];
    if (obj.kind !== KIND || sealed === undefined) return obj;
    const what = `decrypting Secret ${nameOf(obj)}`;
    const parsed = this.parse(obj, what);
    const key =
      parsed.scheme === 'kms'
        ? await this.kmsFor(parsed, what).unwrap(parsed.keyArn, parsed.wrapped, what)
        : this.operatorKey(parsed.keyName, what);
    return this.decrypt(obj, parsed, key, what);
  }

  /** `open` with keys already in memory only (no KMS call): undefined when it cannot. */
  private openHeld<T extends Obj>(obj: T): T | undefined {
    const what = `decrypting Secret ${nameOf(obj)}`;
    try {
      if (obj[ENCRYPTED_FIELD] === undefined) return obj;
      const parsed = this.parse(obj, what);
      const key = parsed.scheme === 'kms' ? this.kms?.cached(parsed.wrapped) : this.operatorKey(parsed.keyName, what);
      return key && this.decrypt(obj, parsed, key, what);
    } catch {
      return undefined;
    }
  }

  private parse(obj: Obj, what: string): SealedValue {
    const parsed = parseSealed(obj[ENCRYPTED_FIELD]);
    if (!parsed) throw new FerryError(500, 'InternalError', `${what}: the stored value is not in a format ferry knows`);
    return parsed;
  }

  private kmsFor(parsed: SealedValue & { scheme: 'kms' }, what: string): KmsDataKeys {
    if (this.kms) return this.kms;
    throw new FerryError(
      500,
      'InternalError',
      `${what}: it is encrypted with a data key from AWS KMS key ${parsed.keyArn} and KMS is not configured (FERRY_KMS_KEY_ARN)`,
    );
  }

  private operatorKey(name: string, what: string): Buffer {
    const key = this.keys.find((k) => k.name === name);
    if (key) return key.secret;
    const configured =
      this.keys.length === 0
        ? 'no encryption keys are configured'
        : `the configured keys are ${this.keys.map((k) => `"${k.name}"`).join(', ')}`;
    throw new FerryError(
      500,
      'InternalError',
      `${what}: it is encrypted with key "${name}" and ${configured} (FERRY_ENCRYPTION_KEYS)`,
    );
  }

  private decrypt<T extends Obj>(obj: T, parsed: SealedValue, key: Buffer, what: string): T {
    let payload: { data?: unknown; stringData?: unknown };
    try {
      payload = JSON.parse(openBody(key, parsed.body, aadOf(obj)));
    } catch {
      const which =
        parsed.scheme === 'kms' ? `the data key from AWS KMS key ${parsed.keyArn}` : `key "${parsed.keyName}"`;
      throw new FerryError(
        500,
        'InternalError',
        `${what}: authentication failed with ${which} (a different key under that name, or a damaged value)`,
      );
    }
    const { [ENCRYPTED_FIELD]: _sealed, ...rest } = obj as Obj;
    return { ...rest, ...payload } as T;
  }

  /** A Conflict carries the stored object: decrypted like every other way out. */
  private async openError(err: FerryError): Promise<FerryError> {
    if (!(err instanceof ConflictError) || err.current?.kind !== KIND) return err;
    const current = await this.open(err.current);
    return new ConflictError(current.kind, current.metadata.name, current, err.message);
  }

  private async guard<R>(promise: Promise<R>): Promise<R> {
    try {
      return await promise;
    } catch (err) {
      throw err instanceof FerryError ? await this.openError(err) : err;
    }
  }
}

/** Who sealed a stored value: a KMS key ARN or an operator key name, comparable to `currentSealer`. */
function sealedBy(value: SealedValue): string {
  return value.scheme === 'kms' ? `kms:${value.keyArn}` : `aesgcm:${value.keyName}`;
}

function nameOf(obj: Obj): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

/** What a ciphertext is bound to: the Secret it belongs to, as Kubernetes binds it to the etcd key. */
function aadOf(obj: Obj): string {
  const ref = refOf(obj);
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * What a runtime does at start: seals Secrets stored in plaintext or under an older key with the
 * current key (rotation's rewrite step), logging what it did; Secrets no configured key opens are
 * logged as an error, loudly, with what to do. KMS not answering is logged, not thrown: the
 * runtime starts (Secrets answer 503 meanwhile) and the next start rewrites.
 */
export async function rewriteSecretsAtStart(store: StateStore, log: Logger): Promise<void> {
  if (!(store instanceof EncryptedStore)) return;
  let result: { rewritten: number; unreadable: string[] };
  try {
    result = await store.rewriteSecrets();
  } catch (err) {
    if (!(err instanceof FerryError && err.status === 503)) throw err;
    log.error('Secrets were not rewritten under the current key: the next start tries again', { error: err.message });
    return;
  }
  const { rewritten, unreadable } = result;
  if (rewritten > 0) log.info('Secrets rewritten under the current encryption key', { rewritten });
  if (unreadable.length > 0) {
    log.error('Secrets that no configured encryption key decrypts: add back the key they were written with', {
      count: unreadable.length,
      secrets: unreadable.slice(0, 20).join(', '),
    });
  }
}
