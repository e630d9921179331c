/**
 * Secrets encrypted at rest: a StateStore decorator (`index.ts` puts it over every backend) that
 * encrypts a Secret's `data` and `stringData` with AES-256-GCM before the backend sees them and
 * decrypts them on every way out (get, list, write results, Conflict errors, watch events), as
 * Kubernetes' EncryptionConfiguration `aesgcm` provider does for etcd. The backend keeps the
 * Secret with those two fields replaced by one string,
 * `ferry:enc:aesgcm:v1:<key name>:<base64 of nonce | ciphertext | tag>`, authenticated with the
 * Secret's kind/namespace/name so a ciphertext copied onto another Secret does not decrypt.
 * Metadata (names, labels) and `type` stay readable: selectors and authorization need them.
 *
 * Keys (`encryption-keys.ts`): the first encrypts, all decrypt. A Secret stored before any key was
 * given is read as it is and encrypted at its next write; `rewriteSecrets` rewrites every Secret
 * not under the first key (the runtimes call it at start), which is what rotation needs: add the
 * new key first, restart, then remove the old key. A ciphertext whose key is not configured, or
 * that fails authentication (a wrong key under the right name), is a 500 naming the Secret and the
 * key, never an empty Secret. With no keys Secrets are written as they are (the runtimes warn).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConflictError, FerryError } from '../errors';
import type { Logger } from '../log';
import type { EncryptionKey } from './encryption-keys';
import { refOf } from './object-meta';
import type {
  ChangeListener,
  DeleteOptions,
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
const PREFIX = 'ferry:enc:aesgcm:v1:';
/** The stored field that replaces `data` and `stringData`. */
export const ENCRYPTED_FIELD = 'encrypted';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class EncryptedStore implements StateStore {
  constructor(
    private readonly inner: StateStore,
    private readonly keys: EncryptionKey[],
  ) {}

  async get<T extends Obj>(ref: ObjectRef): Promise<T | undefined> {
    const obj = await this.inner.get<T>(ref);
    return obj && this.open(obj);
  }

  async list<T extends Obj>(kind: string, options?: ListOptions): Promise<ListResult<T>> {
    const result = await this.inner.list<T>(kind, options);
    if (kind !== KIND) return result;
    return { ...result, items: result.items.map((o) => this.open(o)) };
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    return this.open(await this.guard(this.inner.create(this.seal(obj))));
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    return this.open(await this.guard(this.inner.update(this.seal(obj))));
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    const results = await this.inner.writeBatch(ops.map((op) => ({ ...op, object: this.seal(op.object) })));
    return results.map((r, i) => {
      if (ops[i]?.object.kind !== KIND) return r;
      return r.ok ? { ok: true, object: this.open(r.object) } : { ok: false, error: this.openError(r.error) };
    });
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    const sealed = ops.map((op) => (op.op === 'delete' ? op : { ...op, object: this.seal(op.object) }));
    return (await this.guard(this.inner.transact(sealed))).map((o) => this.open(o));
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

  watch(listener: ChangeListener): () => void {
    return this.inner.watch((event) => {
      if (event.object.kind !== KIND) return listener(event);
      let object: Obj;
      try {
        object = this.open(event.object);
      } catch {
        // Only this instance's own writes arrive here, sealed with the first key; should one not
        // open, watchers still learn that the Secret changed, without its values.
        const { [ENCRYPTED_FIELD]: _sealed, ...rest } = event.object;
        object = rest as Obj;
      }
      listener({ type: event.type, object });
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Rewrites every Secret that is stored in plaintext or under a key other than the first, so an
   * old key can be removed (rotation) and Secrets from before encryption get encrypted. A Secret
   * written meanwhile is skipped (that write sealed it with the first key). Returns how many were
   * rewritten, and the Secrets that could not be decrypted with any configured key.
   */
  async rewriteSecrets(): Promise<{ rewritten: number; unreadable: string[] }> {
    const primary = this.keys[0];
    let rewritten = 0;
    const unreadable: string[] = [];
    for (const stored of (await this.inner.list(KIND)).items) {
      const sealed = stored[ENCRYPTED_FIELD];
      if (typeof sealed === 'string' && keyNameOf(sealed) === primary?.name) continue;
      let plain: Obj;
      try {
        plain = this.open(stored);
      } catch {
        unreadable.push(`${stored.metadata.namespace}/${stored.metadata.name}`);
        continue;
      }
      // Without a key there is nothing to seal with: plaintext stays plaintext.
      if (!primary) continue;
      try {
        await this.inner.update(this.seal(plain));
        rewritten++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return { rewritten, unreadable };
  }

  /** `obj` as the backend keeps it: a Secret's values sealed with the first key, if there is one. */
  private seal<T extends Obj>(obj: T): T {
    const primary = this.keys[0];
    if (obj.kind !== KIND || !primary) return obj;
    const { data, stringData, [ENCRYPTED_FIELD]: _old, ...rest } = obj as Obj;
    const payload: Record<string, unknown> = {};
    if (data !== undefined) payload.data = data;
    if (stringData !== undefined) payload.stringData = stringData;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', primary.secret, nonce);
    cipher.setAAD(Buffer.from(aadOf(obj)));
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    const sealed = Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
    return { ...rest, [ENCRYPTED_FIELD]: `${PREFIX}${primary.name}:${sealed}` } as unknown as T;
  }

  /** `obj` as callers see it: a sealed Secret's values decrypted. Throws a 500 when it cannot be. */
  private open<T extends Obj>(obj: T): T {
    const sealed = obj[ENCRYPTED_FIELD];
    if (obj.kind !== KIND || sealed === undefined) return obj;
    const what = `decrypting Secret ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const name = typeof sealed === 'string' ? keyNameOf(sealed) : undefined;
    if (name === undefined)
      throw new FerryError(500, 'InternalError', `${what}: the stored value is not in a format ferry knows`);
    const key = this.keys.find((k) => k.name === name);
    if (!key) {
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
    const raw = Buffer.from((sealed as string).slice(PREFIX.length + name.length + 1), 'base64');
    let payload: { data?: unknown; stringData?: unknown };
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.secret, raw.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(aadOf(obj)));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([
        decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]);
      payload = JSON.parse(text.toString('utf8'));
    } catch {
      throw new FerryError(
        500,
        'InternalError',
        `${what}: authentication failed with key "${name}" (a different key under that name, or a damaged value)`,
      );
    }
    const { [ENCRYPTED_FIELD]: _sealed, ...rest } = obj as Obj;
    return { ...rest, ...payload } as T;
  }

  /** A Conflict carries the stored object: decrypted like every other way out. */
  private openError(err: FerryError): FerryError {
    if (!(err instanceof ConflictError) || err.current?.kind !== KIND) return err;
    const current = this.open(err.current);
    return new ConflictError(current.kind, current.metadata.name, current, err.message);
  }

  private async guard<R>(promise: Promise<R>): Promise<R> {
    try {
      return await promise;
    } catch (err) {
      throw err instanceof FerryError ? this.openError(err) : err;
    }
  }
}

function keyNameOf(sealed: string): string | undefined {
  if (!sealed.startsWith(PREFIX)) return undefined;
  const end = sealed.indexOf(':', PREFIX.length);
  return end < 0 ? undefined : sealed.slice(PREFIX.length, end);
}

/** What a ciphertext is bound to: the Secret it belongs to, as Kubernetes binds it to the etcd key. */
function aadOf(obj: Obj): string {
  const ref = refOf(obj);
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * What a runtime does at start: seals Secrets stored in plaintext or under an older key with the
 * first key (rotation's rewrite step), logging what it did; Secrets no configured key opens are
 * logged as an error, loudly, with what to do.
 */
export async function rewriteSecretsAtStart(store: StateStore, log: Logger): Promise<void> {
  if (!(store instanceof EncryptedStore)) return;
  const { rewritten, unreadable } = await store.rewriteSecrets();
  if (rewritten > 0) log.info('Secrets rewritten under the first encryption key', { rewritten });
  if (unreadable.length > 0) {
    log.error('Secrets that no configured encryption key decrypts: add back the key they were written with', {
      count: unreadable.length,
      secrets: unreadable.slice(0, 20).join(', '),
    });
  }
}
