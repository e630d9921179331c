/**
 * The stored form of a sealed Secret's values, and the AES-256-GCM that makes it. Two forms, by
 * where the key came from:
 *
 * - `ferry:enc:aesgcm:v1:<key name>:<base64 of nonce | ciphertext | tag>` — an operator key
 *   (`encryption-keys.ts`), found by name.
 * - `ferry:enc:kms:v1:<base64url of the KMS key ARN>:<base64 wrapped data key>:<base64 of nonce |
 *   ciphertext | tag>` — a data key from AWS KMS (`kms-keys.ts`), stored wrapped beside the
 *   ciphertext as Kubernetes' KMS v2 provider stores its encrypted DEK with every object.
 *
 * Either way the ciphertext is authenticated with the Secret's kind/namespace/name (`aad`), so a
 * value copied onto another Secret does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const AESGCM = 'ferry:enc:aesgcm:v1:';
const KMS = 'ferry:enc:kms:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type SealedValue =
  | { scheme: 'aesgcm'; keyName: string; body: string }
  | { scheme: 'kms'; keyArn: string; wrapped: string; body: string };

/** The parts of a stored value, or undefined when it is in no form ferry writes. */
export function parseSealed(sealed: unknown): SealedValue | undefined {
  if (typeof sealed !== 'string') return undefined;
  if (sealed.startsWith(AESGCM)) {
    const [keyName, body, ...rest] = sealed.slice(AESGCM.length).split(':');
    if (!keyName || !body || rest.length > 0) return undefined;
    return { scheme: 'aesgcm', keyName, body };
  }
  if (sealed.startsWith(KMS)) {
    const [arn, wrapped, body, ...rest] = sealed.slice(KMS.length).split(':');
    if (!arn || !wrapped || !body || rest.length > 0) return undefined;
    return { scheme: 'kms', keyArn: Buffer.from(arn, 'base64url').toString('utf8'), wrapped, body };
  }
  return undefined;
}

/** The string a backend stores for `value`. */
export function formatSealed(value: SealedValue): string {
  if (value.scheme === 'aesgcm') return `${AESGCM}${value.keyName}:${value.body}`;
  return `${KMS}${Buffer.from(value.keyArn, 'utf8').toString('base64url')}:${value.wrapped}:${value.body}`;
}

/** `plaintext` sealed with `key` (32 bytes) under a fresh random nonce, bound to `aad`. */
export function sealBody(key: Buffer, plaintext: string, aad: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** The plaintext of `body`; throws when `key` or `aad` is not the one it was sealed with. */
export function openBody(key: Buffer, body: string, aad: string): string {
  const raw = Buffer.from(body, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString(
    'utf8',
  );
}
