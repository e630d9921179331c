/** The page test's gate: a missing browser fails the run under CI (as Docker and kubectl do) and skips elsewhere. */
import { describe, expect, it } from 'vitest';
import { browserGate, chromiumProblem } from '../../helpers/chromium';

describe('the browser gate', () => {
  it('fails without a browser under REQUIRE_DOCKER=1 or CI, skips elsewhere, runs with one', () => {
    // prepare
    const problem = chromiumProblem('/nonexistent/chromium');

    // assess
    expect(problem).toBe('/nonexistent/chromium does not exist');
    expect(browserGate(problem, { REQUIRE_DOCKER: '1' })).toBe('fail');
    expect(browserGate(problem, { CI: 'true' })).toBe('fail');
    expect(browserGate(problem, { CI: 'false' })).toBe('skip');
    expect(browserGate(problem, {})).toBe('skip');
    expect(browserGate(undefined, { CI: 'true' })).toBe('run');
  });
});
