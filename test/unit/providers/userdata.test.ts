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
    const script = userData(spec({ apiUrl: hostile, labels: { team: hostile } }, 'node-1'), {
      etcDir: join(dir, 'etc'),
      stateDir: join(dir, 'state'),
      agentImage: `registry.example.com/agent:1'; touch ${pwned}; '`,
    });
    writeFileSync(join(dir, 'user-data.sh'), script);

    await run('bash', [join(dir, 'user-data.sh')], { env: { PATH: `${bin}:${process.env.PATH}` } });

    expect(existsSync(pwned)).toBe(false);
    const env = readFileSync(join(dir, 'etc/agent.env'), 'utf8').split('\n');
    expect(env).toContain(`FERRY_API_URL=${hostile}`);
    expect(env).toContain(`FERRY_NODE_LABELS=team=${hostile}`);
    expect(env).toContain('FERRY_NODE_NAME=node-1');
    expect((await run('stat', ['-c', '%a', join(dir, 'etc/agent.env')])).stdout.trim()).toBe('600');
    const args = readFileSync(join(dir, 'docker.args'), 'utf8').trim().split('\n');
    expect(args.at(-1)).toBe(`registry.example.com/agent:1'; touch ${pwned}; '`);
    expect(args).toContain('--env-file');
  });

  it('refuses values with a newline, which could end the env file early', () => {
    expect(() => userData(spec({ token: 'a\nFERRY_AGENT_ENV\nrm -rf /' }))).toThrow(UserDataError);
    expect(() => userData(spec({ labels: { a: 'b\rc' } }))).toThrow(/FERRY_NODE_LABELS may not contain a newline/);
  });
});
