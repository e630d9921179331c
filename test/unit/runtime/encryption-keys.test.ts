/**
 * Where the local runtime takes the keys for Secrets at rest from, and what it says without one:
 * a key file (`ferry server --encryption-key-file`, FERRY_ENCRYPTION_KEY_FILE) seals Secrets written
 * through the API; no key keeps today's behaviour and logs one warning at start.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import { NO_ENCRYPTION_WARNING } from '../../../functions/store';

const PLAINTEXT = 'api-written-secret-value-55e1';

function capturingLog() {
  const warnings: string[] = [];
  const log = { ...silentLogger, warn: (msg: string) => warnings.push(msg), child: () => log };
  return { log, warnings };
}

let plane: LocalControlPlane | undefined;
afterEach(async () => {
  await plane?.close();
  plane = undefined;
});

async function createSecret(p: LocalControlPlane): Promise<number> {
  const res = await fetch(`${p.url}/api/v1/namespaces/default/secrets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { v: PLAINTEXT } }),
  });
  return res.status;
}

describe('the local runtime and encryption keys', () => {
  it('with a key file, Secrets created through the API are ciphertext on disk, and no warning is logged', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
    const keyFile = join(dataDir, 'keys');
    writeFileSync(keyFile, `k1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const { log, warnings } = capturingLog();

    plane = await startLocalControlPlane({ dataDir, port: 0, controllers: false, log, encryptionKeyFile: keyFile });
    const status = await createSecret(plane);

    expect(status).toBe(201);
    expect(warnings).not.toContain(NO_ENCRYPTION_WARNING);
    const disk =
      readFileSync(join(dataDir, 'ferry.db')).toString('latin1') +
      readFileSync(join(dataDir, 'ferry.db-wal')).toString('latin1');
    expect(disk).not.toContain(Buffer.from(PLAINTEXT).toString('base64'));
    expect(disk).toContain('ferry:enc:aesgcm:v1:k1:');
  });

  it('without a key, Secrets are stored as before and the start logs one warning saying how to encrypt', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
    const { log, warnings } = capturingLog();

    plane = await startLocalControlPlane({ dataDir, port: 0, controllers: false, log });
    const status = await createSecret(plane);

    expect(status).toBe(201);
    expect(warnings.filter((w) => w === NO_ENCRYPTION_WARNING)).toHaveLength(1);
    expect(NO_ENCRYPTION_WARNING).toContain('FERRY_ENCRYPTION_KEYS');
  });

  it('a malformed key file stops the start with the file and entry named', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
    const keyFile = join(dataDir, 'keys');
    writeFileSync(keyFile, 'k1:tooshort\n');
    await expect(
      startLocalControlPlane({ dataDir, port: 0, controllers: false, log: silentLogger, encryptionKeyFile: keyFile }),
    ).rejects.toThrow(`${keyFile}: key 1 ("k1") is not 32 bytes of base64`);
  });
});
