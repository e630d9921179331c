/**
 * `ferry up`'s flags are checked before anything starts: a bad --first-address (the node addresses
 * of a second cluster on the machine) is a usage error naming the range that fits the node count.
 */
import { describe, expect, it } from 'vitest';
import { ferry } from './harness';

describe('ferry up flags', () => {
  it('refuses a first address that is not a number or leaves no room for the nodes, before starting anything', async () => {
    // act
    const word = await ferry(['up', '--first-address', 'x1']);
    const zero = await ferry(['up', '--first-address', '0']);
    const past = await ferry(['up', '--nodes', '3', '--first-address', '253']);

    // assess
    for (const r of [word, zero, past]) {
      expect(r.code).toBe(2);
      expect(r.stdout).not.toContain('starting the control plane');
    }
    expect(word.stderr).toContain('--first-address "x1" must be a whole number from 1 to 253');
    expect(past.stderr).toContain('--first-address "253" must be a whole number from 1 to 252 (127.0.1.N, 3 node(s))');
  });
});
