/**
 * The operator's keys for Secrets at rest, as Kubernetes' EncryptionConfiguration lists them: an
 * ordered list where the first key encrypts every write and every key decrypts. Text form, one key
 * per line or comma-separated: `name:base64-of-32-random-bytes` (`head -c 32 /dev/urandom | base64`).
 * https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/
 */
import { readFileSync } from 'node:fs';

export interface EncryptionKey {
  /** Stored with every ciphertext, so a reader knows which key it needs. */
  name: string;
  /** 32 bytes: an AES-256 key. */
  secret: Buffer;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Parses the keys of `source` (named in errors: an environment variable or a file). Blank lines
 * and lines starting with `#` are skipped. Throws, naming the entry, on a malformed name, a key
 * that is not 32 bytes of base64, or a name given twice; never includes key material in a message.
 */
export function parseEncryptionKeys(text: string, source: string): EncryptionKey[] {
  const keys: EncryptionKey[] = [];
  const entries = text
    .split(/[\n,]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon);
    const where = `${source}: key ${i + 1}${NAME.test(name) ? ` ("${name}")` : ''}`;
    if (!NAME.test(name)) throw new Error(`${where} must read NAME:BASE64KEY, NAME of letters, digits, . _ -`);
    const encoded = entry.slice(colon + 1).trim();
    const secret = Buffer.from(encoded, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || secret.length !== 32) {
      throw new Error(`${where} is not 32 bytes of base64 (AES-256): make one with head -c 32 /dev/urandom | base64`);
    }
    if (keys.some((k) => k.name === name)) throw new Error(`${where}: the name is given twice`);
    keys.push({ name, secret });
  });
  return keys;
}

/**
 * The keys a runtime was given: `inline` (FERRY_ENCRYPTION_KEYS) and the lines of `file`
 * (FERRY_ENCRYPTION_KEY_FILE, `ferry server --encryption-key-file`), inline first. None: [].
 */
export function readEncryptionKeys(given: { inline?: string | undefined; file?: string | undefined }): EncryptionKey[] {
  const keys = given.inline ? parseEncryptionKeys(given.inline, 'FERRY_ENCRYPTION_KEYS') : [];
  if (given.file) {
    let text: string;
    try {
      text = readFileSync(given.file, 'utf8');
    } catch (err) {
      throw new Error(
        `reading the encryption key file ${given.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    for (const key of parseEncryptionKeys(text, given.file)) {
      if (keys.some((k) => k.name === key.name))
        throw new Error(`${given.file}: key "${key.name}" is also in FERRY_ENCRYPTION_KEYS`);
      keys.push(key);
    }
  }
  return keys;
}

/** The line a runtime logs at start when no key was given. */
export const NO_ENCRYPTION_WARNING =
  'Secrets are stored unencrypted: set FERRY_ENCRYPTION_KEYS or FERRY_ENCRYPTION_KEY_FILE (ferry server --encryption-key-file), or FERRY_KMS_KEY_ARN, to encrypt them at rest';
