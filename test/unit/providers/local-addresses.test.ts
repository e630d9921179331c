/**
 * The local provider's node addresses: each data dir allocates its own 127.0.1.N, so a second
 * cluster on the machine (the footprint bench's hour of churn beside e2e runs) starts from the
 * address it is told, not on top of the first cluster's nodes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalProvider } from '../../../providers/local';

const dirs: string[] = [];
const pids: number[] = [];
afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A provider whose "agents" are idle node processes (no Docker). */
function provider(firstAddress?: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-local-ip-'));
  dirs.push(dataDir);
  const p = new LocalProvider({
    dataDir,
    agentCommand: [process.execPath, '-e', 'setTimeout(() => {}, 30000)', '--'],
    ...(firstAddress !== undefined ? { firstAddress } : {}),
  });
  const create = async (name: string) => {
    const instance = await p.createInstance({
      name,
      cluster: 'c',
      cloud: { name: 'c', uid: 'c' },
      pool: 'p',
      instanceType: 'local',
      zone: 'z',
      bootstrap: { apiUrl: 'http://127.0.0.1:1', token: 't', labels: {} },
      tags: {},
    });
    pids.push(JSON.parse(readFileSync(join(dataDir, 'nodes', name, 'instance.json'), 'utf8')).pid);
    return instance.privateIp;
  };
  return { create };
}

describe('local provider node addresses', () => {
  it('starts at 127.0.1.1 by default and at the first address it is given otherwise, one per node', async () => {
    // prepare
    const plain = provider();
    const second = provider(200);

    // act
    const defaults = [await plain.create('a-1'), await plain.create('a-2')];
    const moved = [await second.create('b-1'), await second.create('b-2')];

    // assess
    expect(defaults).toEqual(['127.0.1.1', '127.0.1.2']);
    expect(moved).toEqual(['127.0.1.200', '127.0.1.201']);
  });

  it('refuses to go past 127.0.1.254, naming the range it had', async () => {
    // prepare
    const last = provider(254);
    await last.create('c-1');

    // act
    const past = last.create('c-2');

    // assess
    await expect(past).rejects.toThrow('no free loopback address in 127.0.1.254-254');
  });
});
