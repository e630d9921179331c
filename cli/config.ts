/**
 * Where the CLI finds its server and token. FERRY_SERVER / FERRY_TOKEN win over the config file;
 * the file is `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.json`, else
 * `~/.config/ferry/config.json`, holding `{"server": "...", "token": "..."}`.
 * `ferry server` writes it on first start with mode 0600 (its directory 0700), atomically, so a
 * token is never readable by other users, not even for a moment.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors';

export const DEFAULT_SERVER = 'http://127.0.0.1:7443';

export interface CliConfig {
  server?: string;
  token?: string;
}

export interface ResolvedConfig {
  server: string;
  token: string | undefined;
  /** Where the file is (or would be), for hints in error messages. */
  path: string;
}

type Env = Record<string, string | undefined>;

export function configPath(env: Env): string {
  if (env.FERRY_CONFIG) return env.FERRY_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'ferry', 'config.json');
}

export async function readConfig(path: string): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`reading config ${path}: ${(e as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    const { server, token } = parsed as Record<string, unknown>;
    return {
      ...(typeof server === 'string' ? { server } : {}),
      ...(typeof token === 'string' ? { token } : {}),
    };
  } catch (e) {
    throw new CliError(`reading config ${path}: ${(e as Error).message}`);
  }
}

export async function resolveConfig(env: Env): Promise<ResolvedConfig> {
  const path = configPath(env);
  const file = env.FERRY_SERVER && env.FERRY_TOKEN ? {} : await readConfig(path);
  return {
    server: (env.FERRY_SERVER || file.server || DEFAULT_SERVER).replace(/\/+$/, ''),
    token: env.FERRY_TOKEN || file.token,
    path,
  };
}

/** Writes the config atomically with mode 0600, creating its directory with mode 0700. */
export async function writeConfig(path: string, config: CliConfig): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.config-${process.pid}-${Date.now()}.tmp`);
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  // umask cannot widen 0600, but an odd umask could narrow it; make the mode exact.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
