/**
 * `ferry down --data-dir X` removes the containers, pod networks and volumes of X's cluster only: a second
 * cluster on the same machine keeps its pods (issue 19: down used to remove every ferry
 * container). Containers are made with `docker create` and the agent's labels, so no agent runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ferry } from '../integration/cli/harness';
import { describeDocker } from './helpers/docker';

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const made: string[] = [];
const nets: string[] = [];
const dirs: string[] = [];
const vols: string[] = [];

async function clusterDir(id: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-down-'));
  dirs.push(dir);
  await writeFile(join(dir, 'cluster-id'), `${id}\n`);
  return dir;
}

function agentContainer(clusterId: string | undefined): string {
  const labels = ['ferry.managed=true', 'ferry.node=local-1', ...(clusterId ? [`ferry.cluster=${clusterId}`] : [])];
  const id = docker('create', ...labels.flatMap((l) => ['--label', l]), 'ferry.local/pause:1');
  made.push(id);
  return id;
}

function exists(id: string): boolean {
  return docker('ps', '-aq', '--no-trunc', '--filter', `id=${id}`) !== '';
}

afterAll(async () => {
  for (const id of made) if (exists(id)) docker('rm', '-f', id);
  for (const n of nets) execFileSync('docker', ['network', 'rm', n], { stdio: 'ignore' });
  for (const v of vols) execFileSync('docker', ['volume', 'rm', '-f', v], { stdio: 'ignore' });
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describeDocker('ferry down', () => {
  beforeAll(() => {
    execFileSync('bash', [join(import.meta.dirname, '../../scripts/build-test-images.sh')], { stdio: 'ignore' });
  });

  it('removes only the containers, networks and volumes of its own data dir', async () => {
    const mine = await clusterDir('d0wna');
    const theirs = await clusterDir('d0wnb');
    const a = agentContainer('d0wna');
    const b = agentContainer('d0wnb');
    const legacy = agentContainer(undefined);
    const netA = docker(
      'network',
      'create',
      '--label',
      'ferry.managed=true',
      '--label',
      'ferry.cluster=d0wna',
      'ferry-d0wna-local-1',
    );
    const netB = docker(
      'network',
      'create',
      '--label',
      'ferry.managed=true',
      '--label',
      'ferry.cluster=d0wnb',
      'ferry-d0wnb-local-1',
    );
    nets.push(netB);
    const volume = (cluster: string) =>
      docker('volume', 'create', '--label', 'ferry.managed=true', '--label', `ferry.cluster=${cluster}`);
    const volA = volume('d0wna');
    const volB = volume('d0wnb');
    vols.push(volA, volB);

    const res = await ferry(['down', '--data-dir', mine], { env: {} });

    expect(res.code).toBe(0);
    expect(res.stdout).toContain('removed 1 container(s), 1 pod network(s) and 1 volume(s) of cluster d0wna');
    expect(docker('volume', 'ls', '-q', '--filter', `name=${volA}`)).toBe('');
    expect(docker('volume', 'ls', '-q', '--filter', `name=${volB}`)).not.toBe('');
    expect(res.stdout).toContain('no cluster label');
    expect(exists(a)).toBe(false);
    expect(exists(b)).toBe(true);
    expect(exists(legacy)).toBe(true);
    expect(docker('network', 'ls', '-q', '--filter', `id=${netA}`)).toBe('');
    expect(docker('network', 'ls', '-q', '--filter', `id=${netB}`)).not.toBe('');
    expect(theirs).not.toBe(mine);
  });

  it('refuses a data dir that holds no cluster, removing nothing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ferry-down-empty-'));
    dirs.push(empty);
    const other = agentContainer('d0wnc');
    const res = await ferry(['down', '--data-dir', empty], { env: {} });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('holds no ferry cluster');
    expect(exists(other)).toBe(true);
  });
});
