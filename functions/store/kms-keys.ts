/**
 * Data keys for Secrets at rest from AWS KMS (envelope encryption, as Kubernetes' KMS v2 provider
 * does it): KMS `GenerateDataKey` makes an AES-256 key under the operator's KMS key, ferry seals
 * Secrets with the plaintext half and stores the wrapped half (KMS's CiphertextBlob) beside every
 * ciphertext; a reader unwraps it with KMS `Decrypt`. The plaintext key lives only in memory, for
 * a bounded time: the sealing key is replaced after `dataKeyTtlMs` (and after `maxUses` seals, well
 * below AES-GCM's random-nonce bound), unwrapped keys are cached for the same time, at most
 * `maxCached` of them. The KMS client is imported on first use, so a store without KMS never
 * loads the SDK.
 *
 * No SDK error leaves this file: KMS not answering, throttling, or refusing (access denied, key
 * disabled or pending deletion) is a 503 naming the operation, the key and KMS's error name; a
 * wrapped key KMS calls invalid (a damaged or foreign value) is a 500. Nothing is ever written
 * without a key: a failed GenerateDataKey fails the write.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { FerryError } from '../errors';

export interface KmsConfig {
  /** The KMS key new writes are sealed under: key id, key ARN, alias name or alias ARN. */
  keyId: string;
  region?: string;
  /** A KMS-compatible endpoint (tests, VPC endpoints). */
  endpoint?: string;
  /** How long a plaintext data key stays in memory (sealing and cached unwrapped keys); default 1 h. */
  dataKeyTtlMs?: number;
  /** Seals per generated data key before a new one is made; default 2^20. */
  maxUses?: number;
  /** Unwrapped data keys kept at once; default 1,024. */
  maxCached?: number;
  /** A client to use instead of one made from region/endpoint (tests). */
  client?: KMSClient;
  clock?: () => number;
}

/** A data key ready to seal with. */
export interface SealingKey {
  /** The ARN of the KMS key that wrapped it, as KMS reports it. */
  keyArn: string;
  /** KMS's CiphertextBlob, base64: stored beside every ciphertext sealed with `secret`. */
  wrapped: string;
  secret: Buffer;
}

/**
 * Bound into every data key as KMS's encryption context: Decrypt refuses a blob without it, so a
 * data key wrapped for another purpose under the same KMS key does not unwrap here.
 */
const CONTEXT = { purpose: 'ferry-secrets-at-rest' };
const HOUR = 3_600_000;

interface Cached {
  secret: Buffer;
  expiresAt: number;
}

type KmsModule = typeof import('@aws-sdk/client-kms');
let kmsModule: Promise<KmsModule> | undefined;

export class KmsDataKeys {
  private client: KMSClient | undefined;
  private sealing: (SealingKey & { expiresAt: number; uses: number }) | undefined;
  private generating: Promise<SealingKey> | undefined;
  private readonly unwrapped = new Map<string, Cached>();
  private readonly unwrapping = new Map<string, Promise<Buffer>>();
  private readonly ttlMs: number;
  private readonly maxUses: number;
  private readonly maxCached: number;
  private readonly clock: () => number;

  constructor(private readonly config: KmsConfig) {
    this.ttlMs = config.dataKeyTtlMs ?? HOUR;
    this.maxUses = config.maxUses ?? 2 ** 20;
    this.maxCached = config.maxCached ?? 1024;
    this.clock = config.clock ?? Date.now;
    this.client = config.client;
  }

  /** The configured KMS key, as the operator wrote it (for messages). */
  get keyId(): string {
    return this.config.keyId;
  }

  /** The data key for the next seal: the current one while fresh, else a new one from KMS. */
  async sealingKey(what: string): Promise<SealingKey> {
    const now = this.clock();
    const current = this.sealing;
    if (current && current.expiresAt > now && current.uses < this.maxUses) {
      current.uses++;
      return current;
    }
    this.generating ??= this.generate(what).finally(() => {
      this.generating = undefined;
    });
    return this.generating;
  }

  /** The ARN new writes are sealed under, asking KMS for a data key if none is held. */
  async currentKeyArn(what: string): Promise<string> {
    return this.sealing?.keyArn ?? (await this.sealingKey(what)).keyArn;
  }

  /** The plaintext of a stored wrapped data key: from the cache, else from KMS Decrypt. */
  async unwrap(keyArn: string, wrapped: string, what: string): Promise<Buffer> {
    const cached = this.cached(wrapped);
    if (cached) return cached;
    let pending = this.unwrapping.get(wrapped);
    if (!pending) {
      pending = this.decrypt(keyArn, wrapped, what).finally(() => this.unwrapping.delete(wrapped));
      this.unwrapping.set(wrapped, pending);
    }
    return pending;
  }

  /** The plaintext of a wrapped data key if it is in memory and fresh (no KMS call). */
  cached(wrapped: string): Buffer | undefined {
    const entry = this.unwrapped.get(wrapped);
    if (!entry) return undefined;
    if (entry.expiresAt > this.clock()) return entry.secret;
    this.unwrapped.delete(wrapped);
    return undefined;
  }

  private async generate(what: string): Promise<SealingKey> {
    const kms = await loadKms();
    const out = await this.call(`${what}: AWS KMS GenerateDataKey under ${this.config.keyId}`, async (client) =>
      client.send(
        new kms.GenerateDataKeyCommand({ KeyId: this.config.keyId, KeySpec: 'AES_256', EncryptionContext: CONTEXT }),
      ),
    );
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId || out.Plaintext.length !== 32) {
      throw new FerryError(
        503,
        'ServiceUnavailable',
        `${what}: AWS KMS GenerateDataKey answered without a 32-byte key`,
      );
    }
    const key: SealingKey = {
      keyArn: out.KeyId,
      wrapped: Buffer.from(out.CiphertextBlob).toString('base64'),
      secret: Buffer.from(out.Plaintext),
    };
    this.sealing = { ...key, expiresAt: this.clock() + this.ttlMs, uses: 1 };
    // A reader of what this instance writes needs no Decrypt for it.
    this.remember(key.wrapped, key.secret);
    return key;
  }

  private async decrypt(keyArn: string, wrapped: string, what: string): Promise<Buffer> {
    const kms = await loadKms();
    const out = await this.call(`${what}: AWS KMS Decrypt under ${keyArn}`, async (client) =>
      client.send(
        new kms.DecryptCommand({
          // Naming the key makes KMS refuse a blob wrapped under any other key.
          KeyId: keyArn,
          CiphertextBlob: Buffer.from(wrapped, 'base64'),
          EncryptionContext: CONTEXT,
        }),
      ),
    );
    if (out.Plaintext?.length !== 32) {
      throw new FerryError(503, 'ServiceUnavailable', `${what}: AWS KMS Decrypt answered without a 32-byte key`);
    }
    const secret = Buffer.from(out.Plaintext);
    this.remember(wrapped, secret);
    return secret;
  }

  private remember(wrapped: string, secret: Buffer): void {
    this.unwrapped.delete(wrapped);
    this.unwrapped.set(wrapped, { secret, expiresAt: this.clock() + this.ttlMs });
    // Oldest first in a Map: drop from the front past the bound.
    for (const oldest of this.unwrapped.keys()) {
      if (this.unwrapped.size <= this.maxCached) break;
      this.unwrapped.delete(oldest);
    }
  }

  private async call<R>(what: string, send: (client: KMSClient) => Promise<R>): Promise<R> {
    try {
      this.client ??= await this.makeClient();
      return await send(this.client);
    } catch (err) {
      throw translate(err, what);
    }
  }

  private async makeClient(): Promise<KMSClient> {
    const kms = await loadKms();
    return new kms.KMSClient({
      ...(this.config.region ? { region: this.config.region } : {}),
      ...(this.config.endpoint ? { endpoint: this.config.endpoint } : {}),
      // A KMS that does not answer fails the request within seconds instead of holding it.
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
    });
  }
}

function loadKms(): Promise<KmsModule> {
  kmsModule ??= import('@aws-sdk/client-kms');
  return kmsModule;
}

/** KMS's answers that mean the stored value itself is bad, not that KMS is unavailable. */
const DAMAGED = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

function translate(err: unknown, what: string): FerryError {
  if (err instanceof FerryError) return err;
  const name = (err as { name?: string }).name ?? 'Error';
  const message = (err as { message?: string }).message ?? String(err);
  if (DAMAGED.has(name)) {
    return new FerryError(500, 'InternalError', `${what}: ${name}: the stored data key is damaged or not KMS's`);
  }
  return new FerryError(
    503,
    'ServiceUnavailable',
    `${what} failed (${name}: ${message}); Secrets cannot be read or written until KMS answers`,
  );
}
