/** The node credential, kept in the state dir with mode 0600 so a restarted agent keeps its identity. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StoredCredential {
  nodeName: string;
  token: string;
  apiUrl: string;
}

function file(stateDir: string): string {
  return join(stateDir, 'node-credential.json');
}

export function loadCredential(stateDir: string, nodeName: string, apiUrl: string): StoredCredential | undefined {
  const path = file(stateDir);
  if (!existsSync(path)) return undefined;
  const cred = JSON.parse(readFileSync(path, 'utf8')) as StoredCredential;
  return cred.nodeName === nodeName && cred.apiUrl === apiUrl ? cred : undefined;
}

export function saveCredential(stateDir: string, cred: StoredCredential): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = file(stateDir);
  writeFileSync(path, JSON.stringify(cred), { mode: 0o600 });
  chmodSync(path, 0o600);
}
