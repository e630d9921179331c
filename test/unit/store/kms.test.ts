/**
 * Secrets sealed with data keys from AWS KMS (envelope encryption), tested at the SDK boundary:
 * aws-sdk-client-mock answers GenerateDataKey and Decrypt with KMS's documented shapes
 * (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html, API_Decrypt.html)
 * from a fake that wraps keys per KMS key and refuses a blob under the wrong key or context, as
 * KMS does. Failures are KMS's own exception classes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptCommand,
  type DecryptCommandInput,
  GenerateDataKeyCommand,
  type GenerateDataKeyCommandInput,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../functions/errors';
import { type EncryptedStore, type EncryptionKey, openStore } from '../../../functions/store';
import { ENCRYPTED_FIELD, rewriteSecretsAtStart } from '../../../functions/store/encrypted';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { Obj } from '../../../functions/store/types';
import { startApi } from '../api/harness';

const PLAINTEXT = 'correct-horse-battery-staple-kms';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const ARN_A = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN_B = 'arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
const ref = { kind: 'Secret', namespace: 'default', name: 'db' };
const secret = (name = 'db', value = PLAINTEXT): Obj => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default' },
  type: 'Opaque',
  data: { password: b64(value) },
});

const kms = mockClient(KMSClient);
/** The fake KMS: wrapped blob (base64) -> the key it is under, its context and plaintext. */
let wrappedKeys: Map<string, { keyArn: string; context: string; plaintext: Uint8Array }>;
/** KMS keys that refuse use (disabled, or no grant). */
let denied: Set<string>;

beforeEach(() => {
  wrappedKeys = new Map();
  denied = new Set();
  kms.reset();
  kms.on(GenerateDataKeyCommand).callsFake((input: GenerateDataKeyCommandInput) => {
    const keyArn = input.KeyId as string;
    if (denied.has(keyArn)) throw accessDenied(keyArn, 'kms:GenerateDataKey');
    const plaintext = new Uint8Array(randomBytes(32));
    const blob = new Uint8Array(randomBytes(184));
    wrappedKeys.set(Buffer.from(blob).toString('base64'), {
      keyArn,
      context: JSON.stringify(input.EncryptionContext ?? {}),
      plaintext,
    });
    return { CiphertextBlob: blob, Plaintext: plaintext, KeyId: keyArn };
  });
  kms.on(DecryptCommand).callsFake((input: DecryptCommandInput) => {
    const entry = wrappedKeys.get(Buffer.from(input.CiphertextBlob as Uint8Array).toString('base64'));
    if (!entry || entry.context !== JSON.stringify(input.EncryptionContext ?? {})) {
      throw new InvalidCiphertextException({ message: 'InvalidCiphertextException', $metadata: {} });
    }
    if (input.KeyId && input.KeyId !== entry.keyArn) {
      throw new IncorrectKeyException({ message: 'The key ID in the request does not identify a CMK', $metadata: {} });
    }
    if (denied.has(entry.keyArn)) throw accessDenied(entry.keyArn, 'kms:Decrypt');
    return { KeyId: entry.keyArn, Plaintext: entry.plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  });
});

/** KMS's answer to a caller without the grant: a generic AWS error, not a modelled KMS exception. */
function accessDenied(arn: string, action: string): Error {
  const message = `User: arn:aws:sts::111122223333:assumed-role/ferry is not authorized to perform: ${action} on resource: ${arn}`;
  return Object.assign(new Error(message), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} });
}

function kmsDown(): void {
  kms.on(GenerateDataKeyCommand).rejects(new KMSInternalException({ message: 'internal error', $metadata: {} }));
  kms.on(DecryptCommand).rejects(new KMSInternalException({ message: 'internal error', $metadata: {} }));
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'ferry-kms-')), 'ferry.db');
}

/** A store as a process opens it: its own data-key cache, the SDK client made on first use. */
async function open(
  path: string,
  options: { keyArn?: string; keys?: EncryptionKey[]; now?: { ms: number } } = {},
): Promise<EncryptedStore> {
  const store = await openStore({
    backend: 'sqlite',
    path,
    encryptionKeys: options.keys ?? [],
    ...(options.keyArn
      ? {
          kms: {
            keyId: options.keyArn,
            region: 'us-east-1',
            dataKeyTtlMs: 60_000,
            ...(options.now ? { clock: () => (options.now as { ms: number }).ms } : {}),
          },
        }
      : {}),
  });
  opened.push(store);
  return store;
}

async function raw(path: string): Promise<SqliteStore> {
  const store = await SqliteStore.open(path);
  opened.push(store);
  return store;
}

function onDisk(path: string): string {
  let bytes = readFileSync(path).toString('latin1');
  try {
    bytes += readFileSync(`${path}-wal`).toString('latin1');
  } catch {}
  return bytes;
}

describe('Secrets sealed with data keys from AWS KMS', () => {
  it('asks KMS for one data key for many writes and stores it wrapped beside each ciphertext', async () => {
    const path = tempDb();
    const store = await open(path, { keyArn: ARN_A });

    for (const name of ['a', 'b', 'c']) await store.create(secret(name));

    const generated = kms.commandCalls(GenerateDataKeyCommand);
    expect(generated).toHaveLength(1);
    expect(generated[0]?.args[0].input).toEqual({
      KeyId: ARN_A,
      KeySpec: 'AES_256',
      EncryptionContext: { purpose: 'ferry-secrets-at-rest' },
    });
    const stored = String((await (await raw(path)).get({ ...ref, name: 'a' }))?.[ENCRYPTED_FIELD]);
    const [arn, wrapped] = stored.slice('ferry:enc:kms:v1:'.length).split(':');
    expect(Buffer.from(arn as string, 'base64url').toString()).toBe(ARN_A);
    expect(wrappedKeys.has(wrapped as string)).toBe(true);
    expect(onDisk(path)).not.toContain(b64(PLAINTEXT));
    // The writer reads its own writes without a Decrypt.
    expect((await store.get({ ...ref, name: 'b' }))?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0);
  });

  it('a fresh process unwraps the data key once with Decrypt, naming the key, and caches it', async () => {
    const path = tempDb();
    const writer = await open(path, { keyArn: ARN_A });
    for (const name of ['a', 'b', 'c']) await writer.create(secret(name));

    const reader = await open(path, { keyArn: ARN_A });
    const listed = await reader.list('Secret');
    await reader.get({ ...ref, name: 'a' });

    expect(listed.items.map((s) => s.data)).toEqual([1, 2, 3].map(() => ({ password: b64(PLAINTEXT) })));
    const decrypts = kms.commandCalls(DecryptCommand);
    expect(decrypts).toHaveLength(1);
    expect(decrypts[0]?.args[0].input.KeyId).toBe(ARN_A);
    expect(decrypts[0]?.args[0].input.EncryptionContext).toEqual({ purpose: 'ferry-secrets-at-rest' });
  });

  it('keeps a plaintext data key in memory for a bounded time only', async () => {
    const path = tempDb();
    const now = { ms: 0 };
    const writer = await open(path, { keyArn: ARN_A, now });
    await writer.create(secret('a'));
    const reader = await open(path, { keyArn: ARN_A, now });
    await reader.get({ ...ref, name: 'a' });

    now.ms += 61_000;
    await writer.create(secret('b'));
    await reader.get({ ...ref, name: 'a' });

    expect(kms.commandCalls(GenerateDataKeyCommand)).toHaveLength(2);
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(2);
  });

  it('rotation: a new KMS key seals new writes, old Secrets still read, the rewrite moves them', async () => {
    const path = tempDb();
    await (await open(path, { keyArn: ARN_A })).create(secret('old'));

    const rotated = await open(path, { keyArn: ARN_B });
    await rotated.create(secret('new'));
    const oldRead = await rotated.get({ ...ref, name: 'old' });
    const first = await rotated.rewriteSecrets();
    const again = await rotated.rewriteSecrets();
    denied.add(ARN_A);
    const afterOldKeyGone = await (await open(path, { keyArn: ARN_B })).list('Secret');

    expect(oldRead?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(first).toEqual({ rewritten: 1, unreadable: [] });
    expect(again).toEqual({ rewritten: 0, unreadable: [] });
    const store = await raw(path);
    for (const name of ['old', 'new']) {
      const sealed = String((await store.get({ ...ref, name }))?.[ENCRYPTED_FIELD]);
      expect(sealed.startsWith(`ferry:enc:kms:v1:${Buffer.from(ARN_B).toString('base64url')}:`)).toBe(true);
    }
    expect(afterOldKeyGone.items.map((s) => s.data)).toEqual([
      { password: b64(PLAINTEXT) },
      { password: b64(PLAINTEXT) },
    ]);
  });

  it('moving from operator keys to KMS: the old key decrypts, the rewrite seals under KMS', async () => {
    const path = tempDb();
    const k1: EncryptionKey = { name: 'k1', secret: randomBytes(32) };
    await (await open(path, { keys: [k1] })).create(secret());

    const store = await open(path, { keyArn: ARN_A, keys: [k1] });
    const read = await store.get(ref);
    const result = await store.rewriteSecrets();

    expect(read?.data).toEqual({ password: b64(PLAINTEXT) });
    expect(result).toEqual({ rewritten: 1, unreadable: [] });
    expect(String((await (await raw(path)).get(ref))?.[ENCRYPTED_FIELD])).toMatch(/^ferry:enc:kms:v1:/);
    expect((await (await open(path, { keyArn: ARN_A })).get(ref))?.data).toEqual({ password: b64(PLAINTEXT) });
  });

  it('KMS unavailable: a write fails with a 503 and stores nothing, not even in plaintext', async () => {
    const path = tempDb();
    kmsDown();
    const store = await open(path, { keyArn: ARN_A });

    const created = await store.create(secret()).catch((e) => e);
    const batched = await store.writeBatch([{ op: 'create', object: secret('batched') }]).catch((e) => e);

    expect(created).toBeInstanceOf(FerryError);
    expect((created as FerryError).status).toBe(503);
    expect((created as FerryError).message).toContain(
      `storing Secret default/db: AWS KMS GenerateDataKey under ${ARN_A}`,
    );
    expect((created as FerryError).message).toContain('KMSInternalException');
    expect((batched as FerryError).status).toBe(503);
    expect((await (await raw(path)).list('Secret')).items).toEqual([]);
    expect(onDisk(path)).not.toContain(b64(PLAINTEXT));
  });

  it('KMS unavailable: reads of sealed Secrets fail with a 503 naming the Secret and the key', async () => {
    const path = tempDb();
    await (await open(path, { keyArn: ARN_A })).create(secret());
    kmsDown();
    const store = await open(path, { keyArn: ARN_A });

    const got = await store.get(ref).catch((e) => e);
    const listed = await store.list('Secret').catch((e) => e);
    const configMaps = await store.list('ConfigMap');

    expect((got as FerryError).status).toBe(503);
    expect((got as FerryError).message).toContain(
      `decrypting Secret default/db: AWS KMS Decrypt under ${ARN_A} failed`,
    );
    expect((listed as FerryError).status).toBe(503);
    expect(configMaps.items).toEqual([]);
  });

  it('KMS unavailable: the API answers a Secret read with a 503 Status that says why', async () => {
    const path = tempDb();
    const writer = await open(path, { keyArn: ARN_A });
    await writer.create(secret());
    kmsDown();
    const api = await startApi(await open(path, { keyArn: ARN_A }));

    const res = await api.send('GET', '/api/v1/namespaces/default/secrets/db');
    const created = await api.send('POST', '/api/v1/namespaces/default/secrets', { body: secret('fresh') });

    expect(res.status).toBe(503);
    expect(res.json.reason).toBe('ServiceUnavailable');
    expect(res.json.message).toContain('AWS KMS Decrypt');
    expect(created.status).toBe(503);
    expect(await (await raw(path)).get({ ...ref, name: 'fresh' })).toBeUndefined();
  });

  it('KMS unavailable at start: the rewrite is logged and skipped, the runtime still starts', async () => {
    const path = tempDb();
    kmsDown();
    const errors: string[] = [];
    const log = { error: (msg: string) => errors.push(msg), info: () => {} } as never;

    await rewriteSecretsAtStart(await open(path, { keyArn: ARN_A }), log);

    expect(errors).toEqual(['Secrets were not rewritten under the current key: the next start tries again']);
  });

  it('a damaged or foreign wrapped key is a 500, and a key KMS refuses is a 503 with its reason', async () => {
    const path = tempDb();
    await (await open(path, { keyArn: ARN_A })).create(secret());
    const store = await raw(path);
    const sealed = String((await store.get(ref))?.[ENCRYPTED_FIELD]);
    const parts = sealed.split(':');
    parts[5] = Buffer.from(randomBytes(184)).toString('base64');
    const stored = (await store.get(ref)) as Obj;
    await store.update({ ...stored, [ENCRYPTED_FIELD]: parts.join(':') });

    const damaged = await (await open(path, { keyArn: ARN_A })).get(ref).catch((e) => e);
    await (await open(path, { keyArn: ARN_A })).create(secret('ok'));
    denied.add(ARN_A);
    const refused = await (await open(path, { keyArn: ARN_A })).get({ ...ref, name: 'ok' }).catch((e) => e);

    expect((damaged as FerryError).status).toBe(500);
    expect((damaged as FerryError).message).toContain('InvalidCiphertextException');
    expect((refused as FerryError).status).toBe(503);
    expect((refused as FerryError).message).toContain('AccessDeniedException');
  });

  it('a KMS-sealed Secret read without KMS configured is a 500 that names the KMS key', async () => {
    const path = tempDb();
    await (await open(path, { keyArn: ARN_A })).create(secret());

    const err = await (await open(path)).get(ref).catch((e) => e);

    expect((err as FerryError).status).toBe(500);
    expect((err as FerryError).message).toContain(`AWS KMS key ${ARN_A} and KMS is not configured (FERRY_KMS_KEY_ARN)`);
  });
});
