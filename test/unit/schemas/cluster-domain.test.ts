/** The cluster domain setting: what the server accepts for its NodePools' machines, as the agent does. */
import { describe, expect, it } from 'vitest';
import { parseClusterDomain } from '../../../schemas/cluster-domain';

describe('cluster domain setting', () => {
  it('takes a DNS domain, in any case and with a trailing dot, as the lower-case name', () => {
    expect(parseClusterDomain('cluster.local')).toBe('cluster.local');
    expect(parseClusterDomain('Corp.Internal.')).toBe('corp.internal');
  });

  it('refuses what is not a DNS domain, saying what it must be', () => {
    for (const bad of ['', '.', 'a..b', '-a.b', 'a_b.c', '$(id)', 'a b', `${'a.'.repeat(101)}a`])
      expect(() => parseClusterDomain(bad), bad).toThrow(/must be a DNS domain such as cluster.local/);
  });
});
