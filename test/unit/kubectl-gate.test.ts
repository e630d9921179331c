/**
 * The kubectl suites' gate (test/helpers/kubectl.ts): a kubectl that does not answer skips a suite
 * only off CI, and says why; under CI (REQUIRE_DOCKER=1 or CI set) the suite fails instead.
 */
import { describe, expect, it } from 'vitest';
import { kubectlGate, kubectlProblem, underCI } from '../helpers/kubectl';

describe('the kubectl suites’ gate', () => {
  it('runs a suite when kubectl answers, whatever the environment', () => {
    expect(kubectlGate(undefined, { CI: 'true' })).toBe('run');
    expect(kubectlGate(undefined, {})).toBe('run');
  });

  it('fails a suite under CI when kubectl does not answer, and skips it elsewhere', () => {
    const problem = 'kubectl version --client failed 3 times';

    expect(kubectlGate(problem, { REQUIRE_DOCKER: '1' })).toBe('fail');
    expect(kubectlGate(problem, { CI: 'true' })).toBe('fail');
    expect(kubectlGate(problem, { CI: '1' })).toBe('fail');
    expect(kubectlGate(problem, {})).toBe('skip');
    expect(kubectlGate(problem, { CI: '', REQUIRE_DOCKER: '0' })).toBe('skip');
    expect(kubectlGate(problem, { CI: 'false' })).toBe('skip');
  });

  it('counts CI as set unless it is empty or "false"', () => {
    expect(underCI({ CI: 'github-actions' })).toBe(true);
    expect(underCI({ CI: 'false' })).toBe(false);
    expect(underCI({})).toBe(false);
  });

  it('says why kubectl does not run: asked three times, with the last failure', () => {
    const problem = kubectlProblem('/nonexistent/ferry-test-kubectl');

    expect(problem).toMatch(/failed 3 times \(last: .*ENOENT/);
  });
});
