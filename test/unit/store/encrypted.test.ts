import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, FerryError } from '../../../functions/errors';
import { type EncryptedStore, type EncryptionKey, openStore, parseEncryptionKeys } from '../../../functions/store';
import { ENCRYPTED_FIELD } from '../../../functions/store/encrypted';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { ChangeEvent, Obj } from '../../../functions/store/types';

const PLAINTEXT = 'correct-horse-battery-staple-7f3a';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const key = (name: string): EncryptionKey => ({ name, secret: randomBytes(32) });
const ref = { kind: 'Secret', namespace: 'default', name: 'db' };
const secret = (name = 'db'): Obj => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default', labels: { app: 'web' } },
  type: 'Opaque',
  data: { password: b64(PLAINTEXT) },
});

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'ferry-enc-')), 'ferry.db');
}

async function open(path: string, keys: EncryptionKey[]): Promise<EncryptedStore> {
  const store = await openStore({ backend: 'sqlite', path, encryptionKeys: keys });
  opened.push(store);
  return store;
}

/** The database file and its WAL, as bytes on disk. */
function onDisk(path: string): string {
  let bytes = readFileSync(path).toString('latin1');
  try {
    bytes += readFileSync(`${path}-wal`).toString('latin1');
  } catch {}
  return bytes;
}

describe('Secrets encrypted at rest', () => {
  it('keeps only ciphertext in the SQLite file and its WAL, and reads back what was written', async () => {
    // prepare
    const path = tempDb();
    const store = await open(path, [key('k1')]);

    // act
    const created = await store.create(secret());
    const updated = await store.update({ ...created, data: { password: b64(`${PLAINTEXT}-2`) } });
    await store.create({ ...secret('other'), data: undefined, stringData: { token: PLAINTEXT } } as Obj);

    // assess
    expect(created.data).toEqual({ password: b64(PLAINTEXT) });
    expect((await store.get(ref))?.data).toEqual(updated.data);
    expect((await store.list('Secret', { labelSelector: 'app=web' })).items.map((s) => s.metadata.name)).toEqual([
      'db',
      'other',
    ]);
    expect((await store.get({ ...ref, name: 'other' }))?.stringData).toEqual({ token: PLAINTEXT });
    const disk = onDisk(path);
    expect(disk).toContain('ferry:enc:aesgcm:v1:k1:');
    expect(disk).not.toContain(PLAINTEXT);
    expect(disk).not.toContain(b64(PLAINTEXT));
    expect(disk).not.toContain(b64(`${PLAINTEXT}-2`));
  });

  it('decrypts on every way out: write results, Conflict errors, transactions, deletes and watch events', async () => {
    const store = await open(tempDb(), [key('k1')]);
    const events: ChangeEvent[] = [];
    const stop = store.watch((e) => events.push(e));
    const created = await store.create(secret());
    await store.update({ ...created, metadata: { ...created.metadata, labels: { v: '2' } } });

    const conflict = await store.update(created).catch((e) => e);
    const [batched] = await store.writeBatch([{ op: 'create', object: secret('batched') }]);
    const [inTx] = await store.transact([{ op: 'create', object: secret('tx') }]);
    const gone = await store.delete({ ...ref, name: 'tx' });
    await new Promise((r) => setTimeout(r, 10));
    stop();

    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).current?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(batched?.ok && batched.object.data).toEqual({ password: b64(PLAINTEXT) });
    expect(inTx?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(gone.data).toEqual({ password: b64(PLAINTEXT) });
    expect(events).toHaveLength(5);
    for (const e of events) {
      expect(e.object.data).toEqual({ password: b64(PLAINTEXT) });
      expect(e.object[ENCRYPTED_FIELD]).toBeUndefined();
    }
  });

  it('rotation: a new first key reads old Secrets, the rewrite moves them to it, then the old key can go', async () => {
    // prepare: a Secret written under k1
    const path = tempDb();
    const k1 = key('k1');
    const k2 = key('k2');
    await (await open(path, [k1])).create(secret());

    // act: k2 added first; restart; rewrite
    const both = await open(path, [k2, k1]);
    const readWithBoth = await both.get(ref);
    const first = await both.rewriteSecrets();
    const again = await both.rewriteSecrets();
    const onlyNew = await open(path, [k2]);

    // assess
    expect(readWithBoth?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(first).toEqual({ rewritten: 1, unreadable: [] });
    expect(again).toEqual({ rewritten: 0, unreadable: [] });
    const raw = await SqliteStore.open(path);
    opened.push(raw);
    expect(String((await raw.get(ref))?.[ENCRYPTED_FIELD])).toMatch(/^ferry:enc:aesgcm:v1:k2:/);
    expect((await onlyNew.get(ref))?.data).toEqual({ password: b64(PLAINTEXT) });
  });

  it('a Secret stored before encryption was on is read as is and sealed by the rewrite', async () => {
    const path = tempDb();
    await (await open(path, [])).create(secret());
    expect(onDisk(path)).toContain(b64(PLAINTEXT));

    const store = await open(path, [key('k1')]);
    expect((await store.get(ref))?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(await store.rewriteSecrets()).toEqual({ rewritten: 1, unreadable: [] });

    const raw = await SqliteStore.open(path);
    opened.push(raw);
    expect((await raw.get(ref))?.data).toBeUndefined();
  });

  it('a wrong key, a missing key or no key fails loudly with a 500 naming the Secret and the key', async () => {
    const path = tempDb();
    await (await open(path, [key('k1')])).create(secret());

    const wrong = await (await open(path, [key('k1')])).get(ref).catch((e) => e);
    const missing = await (await open(path, [key('k9')])).get(ref).catch((e) => e);
    const none = await (await open(path, [])).list('Secret').catch((e) => e);
    const unreadable = await (await open(path, [key('k9')])).rewriteSecrets();

    expect(wrong).toBeInstanceOf(FerryError);
    expect((wrong as FerryError).status).toBe(500);
    expect((wrong as FerryError).message).toContain('Secret default/db: authentication failed with key "k1"');
    expect((missing as FerryError).message).toContain('encrypted with key "k1" and the configured keys are "k9"');
    expect((none as FerryError).message).toContain('no encryption keys are configured');
    expect(unreadable).toEqual({ rewritten: 0, unreadable: ['default/db'] });
  });

  it('a ciphertext copied onto another Secret does not decrypt there', async () => {
    const path = tempDb();
    const k1 = key('k1');
    await (await open(path, [k1])).create(secret());
    const raw = await SqliteStore.open(path);
    opened.push(raw);
    const sealed = (await raw.get(ref)) as Obj;
    await raw.create({ ...sealed, metadata: { name: 'stolen', namespace: 'default' } });

    const err = await (await open(path, [k1])).get({ ...ref, name: 'stolen' }).catch((e) => e);

    expect((err as FerryError).message).toContain('authentication failed');
  });

  it('leaves every other kind as it is', async () => {
    const path = tempDb();
    const store = await open(path, [key('k1')]);
    await store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'default' },
      data: { v: PLAINTEXT },
    });
    const raw = await SqliteStore.open(path);
    opened.push(raw);
    expect((await raw.get({ kind: 'ConfigMap', namespace: 'default', name: 'c' }))?.data).toEqual({ v: PLAINTEXT });
  });
});

describe('parseEncryptionKeys', () => {
  const good = randomBytes(32).toString('base64');

  it('reads NAME:BASE64 entries by line or comma, skipping comments, in order', () => {
    const keys = parseEncryptionKeys(`# rotated 2026-12\nnew:${good}\nold:${good}`, 'keys.txt');
    expect(keys.map((k) => k.name)).toEqual(['new', 'old']);
    expect(parseEncryptionKeys(`a:${good},b:${good}`, 'env').map((k) => k.name)).toEqual(['a', 'b']);
  });

  it('refuses a short key, bad base64, a missing name and a name given twice, without echoing key material', () => {
    const short = randomBytes(16).toString('base64');
    const cases = [`k:${short}`, 'k:not base64!', good, `k:${good}\nk:${good}`];
    for (const text of cases) {
      const err = (() => {
        try {
          parseEncryptionKeys(text, 'FERRY_ENCRYPTION_KEYS');
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      expect(err, text).toBeInstanceOf(Error);
      expect(err?.message).toContain('FERRY_ENCRYPTION_KEYS: key');
      expect(err?.message).not.toContain(good);
      expect(err?.message).not.toContain(short);
    }
  });
});
