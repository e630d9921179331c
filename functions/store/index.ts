/**
 * Chooses a StateStore backend by name. Each backend is loaded with a lazy import() so a Lambda
 * bundle never loads better-sqlite3 and the embedded server never loads the AWS SDK. Every backend
 * is opened under the Secrets encryption decorator (`encrypted.ts`), with or without keys: without
 * keys Secrets are written as given, and a Secret sealed earlier still fails loudly on read
 * instead of reading as empty. A KMS key, when configured, seals every write (`kms-keys.ts`).
 */
import { EncryptedStore } from './encrypted';
import type { EncryptionKey } from './encryption-keys';
import { type KmsConfig, KmsDataKeys } from './kms-keys';
import type { Clock, StateStore } from './types';

export { EncryptedStore } from './encrypted';
export { type EncryptionKey, NO_ENCRYPTION_WARNING, parseEncryptionKeys, readEncryptionKeys } from './encryption-keys';
export { type KmsConfig, KmsDataKeys } from './kms-keys';

export interface StoreConfig {
  backend: 'memory' | 'sqlite' | 'dynamodb';
  /** sqlite: path of the database file. */
  path?: string;
  /** dynamodb: table name, region and optional endpoint (for a local DynamoDB-compatible server). */
  table?: string;
  region?: string;
  endpoint?: string;
  clock?: Clock;
  /** Keys for Secrets at rest: the first encrypts, all decrypt (`encryption-keys.ts`). */
  encryptionKeys?: EncryptionKey[];
  /** A KMS key for Secrets at rest (envelope encryption, `kms-keys.ts`): when given it seals every write. */
  kms?: KmsConfig;
}

const backends: Record<string, (config: StoreConfig) => Promise<StateStore>> = {
  memory: async (config) => new (await import('./memory')).MemoryStore(config.clock),
  sqlite: async (config) => {
    const { SqliteStore } = await import('./sqlite');
    return SqliteStore.open(config.path ?? '.ferry/ferry.db', config.clock);
  },
  dynamodb: async (config) => {
    const { DynamoStore } = await import('./dynamodb');
    return DynamoStore.open({
      table: config.table ?? 'ferry',
      client: {
        ...(config.region ? { region: config.region } : {}),
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      },
      ...(config.clock ? { clock: config.clock } : {}),
    });
  },
};

export async function openStore(config: StoreConfig): Promise<EncryptedStore> {
  const open = backends[config.backend];
  if (!open) throw new Error(`opening state store: unknown backend ${JSON.stringify(config.backend)}`);
  // KmsDataKeys loads the KMS SDK on its first call, not here.
  const kms = config.kms ? new KmsDataKeys(config.kms) : undefined;
  return new EncryptedStore(await open(config), config.encryptionKeys ?? [], kms);
}
