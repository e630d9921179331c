/**
 * The browser for page tests: Debian's `chromium` (scripts/install-chromium.sh; CHROMIUM_PATH
 * overrides), driven by playwright-core, which downloads no browser of its own. As the Docker and
 * kubectl suites: a suite runs when the browser starts, fails under CI (REQUIRE_DOCKER=1 or CI
 * set) when it does not, and elsewhere skips with one line no one can miss.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { underCI } from './kubectl';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser cannot run here, or undefined when it can. */
export function chromiumProblem(path = CHROMIUM): string | undefined {
  if (!existsSync(path)) return `${path} does not exist`;
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 0) return undefined;
  return `\`${path} --version\` failed: ${r.error?.message ?? (r.stderr || r.stdout).trim().slice(0, 300)}`;
}

/** What a browser suite does: run, fail (no browser, under CI) or skip (elsewhere). */
export function browserGate(
  problem: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): 'run' | 'fail' | 'skip' {
  if (problem === undefined) return 'run';
  return underCI(env) ? 'fail' : 'skip';
}

export function describeBrowser(name: string, fn: () => void, problem = chromiumProblem()): void {
  const gate = browserGate(problem);
  if (gate === 'run') {
    describe(name, fn);
  } else if (gate === 'fail') {
    describe(name, () => {
      it('needs chromium', () => {
        throw new Error(`chromium required under CI (REQUIRE_DOCKER=1 or CI set) but it does not run: ${problem}`);
      });
    });
  } else {
    console.warn(
      `\n!!! SKIPPED "${name}": ${problem} (sudo bash scripts/install-chromium.sh; CI sets REQUIRE_DOCKER=1 or CI and fails instead)\n`,
    );
    describe.skipIf(true)(name, fn);
  }
}
