/**
 * Agents run with the V8 flags that keep them small (issue 19), however they are started: by
 * `ferry up` (the local cluster) and as the agent container on cloud machines (agent/Dockerfile).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS, withAgentNodeFlags } from '../../../functions/runtime/local-cluster';

const ROOT = join(import.meta.dirname, '../../..');

describe('the agent’s Node flags', () => {
  it('go right after node, once, and leave another launcher as given', () => {
    const once = withAgentNodeFlags([process.execPath, 'dist/agent.js', '--node-name', 'n1']);
    expect(once).toEqual([process.execPath, ...AGENT_NODE_FLAGS, 'dist/agent.js', '--node-name', 'n1']);
    expect(withAgentNodeFlags(once)).toEqual(once);
    expect(withAgentNodeFlags(['/usr/local/bin/ferry-agent', '--x'])).toEqual(['/usr/local/bin/ferry-agent', '--x']);
  });

  it('are the agent container’s too (agent/Dockerfile, and the e2e image built like it)', () => {
    for (const file of ['agent/Dockerfile', 'scripts/build-agent-image.sh']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const entry = JSON.parse(/ENTRYPOINT (\[[^\]]*\])/.exec(text)?.[1] ?? '[]') as string[];
      expect(entry.slice(1, 1 + AGENT_NODE_FLAGS.length), file).toEqual(AGENT_NODE_FLAGS);
    }
  });

  it('start this Node quietly (no warning on stderr)', () => {
    const { stderr } = spawnSync(
      process.execPath,
      [...AGENT_NODE_FLAGS, '-e', 'console.error(process.execArgv.slice(0, 2).join(" "))'],
      {
        encoding: 'utf8',
      },
    );
    expect(stderr.trim()).toBe(AGENT_NODE_FLAGS.join(' '));
  });
});
