import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { InstanceSpec } from '../../../providers/types';
import { shellQuote, UserDataError, userData } from '../../../providers/userdata';

const run = promisify(execFile);

function spec(overrides: Partial<InstanceSpec['bootstrap']> = {}, name = 'pool-a-x1y2z'): InstanceSpec {
  return {
    name,
    cluster: 'prod',
    cloud: { name: 'prod', uid: 'u-1' },
    pool: 'pool-a',
    instanceType: 't3.medium',
    zone: 'eu-west-1a',
    tags: {},
    bootstrap: {
      apiUrl: 'https://ferry.example.com',
      token: 'ferry_boot-1_s3cr3t',
      labels: { 'ferry.dev/pool': 'pool-a' },
      ...overrides,
    },
  };
}

describe('user-data', () => {
  it('round-trips any value through shell quoting', async () => {
    for (const value of ["it's", '$(touch /tmp/x)', '`id`', '"; rm -rf / #', '\\', '', ' spaced  out ']) {
      const { stdout } = await run('bash', ['-c', `printf %s ${shellQuote(value)}`]);
      expect(stdout).toBe(value);
    }
  });

  it('writes hostile values into the agent env file literally and runs nothing they contain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-userdata-'));
    const pwned = join(dir, 'pwned');
    const hostile = `$(touch ${pwned})\`touch ${pwned}\`'"; touch ${pwned}`;
    // A fake docker on PATH records its arguments instead of running containers.
    const bin = join(dir, 'bin');
    await run('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'docker'), `#!/bin/bash\nprintf '%s\\n' "$@" >> ${shellQuote(join(dir, 'docker.args'))}\n`);
    chmodSync(join(bin, 'docker'), 0o755);
    const script = userData(spec({ apiUrl: hostile, token: hostile, labels: { team: 'a' } }, 'node-1'), {
      etcDir: join(dir, 'etc'),
      stateDir: join(dir, 'state'),
      env: { FERRY_LOG_LEVEL: hostile },
      agentImage: 'registry.example.com:5000/agent:1',
    });
    writeFileSync(join(dir, 'user-data.sh'), script);

    await run('bash', [join(dir, 'user-data.sh')], { env: { PATH: `${bin}:${process.env.PATH}` } });

    expect(existsSync(pwned)).toBe(false);
    const env = readFileSync(join(dir, 'etc/agent.env'), 'utf8').split('\n');
    expect(env).toContain(`FERRY_API_URL=${hostile}`);
    expect(env).toContain(`FERRY_TOKEN=${hostile}`);
    expect(env).toContain(`FERRY_LOG_LEVEL=${hostile}`);
    expect(env).toContain('FERRY_NODE_LABELS=team=a');
    expect(env).toContain('FERRY_NODE_NAME=node-1');
    expect((await run('stat', ['-c', '%a', join(dir, 'etc/agent.env')])).stdout.trim()).toBe('600');
    const args = readFileSync(join(dir, 'docker.args'), 'utf8').trim().split('\n');
    expect(args.at(-1)).toBe('registry.example.com:5000/agent:1');
    expect(args).toContain('--env-file');
  });

  it('refuses values with a newline, which could end the env file early', () => {
    expect(() => userData(spec({ token: 'a\nFERRY_AGENT_ENV\nrm -rf /' }))).toThrow(UserDataError);
    expect(() => userData(spec({ labels: { a: 'b\rc' } }))).toThrow(/FERRY_NODE_LABELS may not contain a newline/);
  });

  it('refuses node labels that would add labels of their own to the comma-joined list', () => {
    expect(() => userData(spec({ labels: { team: 'a,node-role.kubernetes.io/control-plane=' } }))).toThrow(
      /node label team has the value .* which is not a label value/,
    );
    expect(() => userData(spec({ labels: { 'a=b,c': 'x' } }))).toThrow(/is not a qualified name/);
    expect(() => userData(spec({ labels: { team: `$(touch /tmp/x)` } }))).toThrow(UserDataError);
  });

  it('refuses an agent image the docker command line would read as a flag, or that is no image reference', () => {
    for (const image of ['--privileged', '-v/:/host', "agent:1'; touch /tmp/x; '", 'agent image', '']) {
      expect(() => userData(spec(), { agentImage: image }), image).toThrow(/agentImage .* is not an image reference/);
    }
    expect(userData(spec(), { agentImage: `ghcr.io/ferry-dev/agent@sha256:${'a'.repeat(64)}` })).toContain(
      `'ghcr.io/ferry-dev/agent@sha256:${'a'.repeat(64)}'`,
    );
  });

  it("writes the server's cluster domain into the agent env file, over a Cloud's agentEnv", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-userdata-'));
    const bin = join(dir, 'bin');
    await run('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'docker'), '#!/bin/bash\nexit 0\n');
    chmodSync(join(bin, 'docker'), 0o755);
    const script = userData(spec({ clusterDomain: 'corp.internal' }), {
      etcDir: join(dir, 'etc'),
      stateDir: join(dir, 'state'),
      env: { FERRY_CLUSTER_DOMAIN: 'other.example' },
    });
    writeFileSync(join(dir, 'user-data.sh'), script);
    await run('bash', [join(dir, 'user-data.sh')], { env: { PATH: `${bin}:${process.env.PATH}` } });
    const env = readFileSync(join(dir, 'etc/agent.env'), 'utf8').split('\n');
    expect(env.filter((l) => l.startsWith('FERRY_CLUSTER_DOMAIN='))).toEqual(['FERRY_CLUSTER_DOMAIN=corp.internal']);
  });

  it('leaves the cluster domain to the agent (cluster.local) when the server names none', () => {
    expect(userData(spec())).not.toContain('FERRY_CLUSTER_DOMAIN');
  });

  it('refuses a cluster domain that is not a DNS domain, before it reaches the script or the agent', () => {
    for (const domain of [
      '$(touch /tmp/x)',
      "a'; touch /tmp/x; '",
      '-rf',
      'Cluster.Local',
      'a..b',
      '',
      `${'a.'.repeat(101)}a`,
    ]) {
      expect(() => userData(spec({ clusterDomain: domain })), domain).toThrow(/cluster domain .* is not a DNS domain/);
    }
    expect(() => userData(spec({ clusterDomain: 'a\nFERRY_AGENT_ENV\ntouch /tmp/x' }))).toThrow(UserDataError);
  });

  it('refuses a node name that is not a DNS subdomain', () => {
    expect(() => userData(spec({}, '-rf'))).toThrow(/node name "-rf" is not a DNS subdomain/);
  });
});
