/**
 * Gating for suites that need a real Docker Engine: run when it answers; under REQUIRE_DOCKER=1
 * (CI) fail loudly when it does not; otherwise skip with one line saying why.
 */
import { execFileSync } from 'node:child_process';
import { describe, it } from 'vitest';

export function dockerAvailable(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function describeDocker(name: string, fn: () => void): void {
  if (dockerAvailable()) {
    describe(name, fn);
  } else if (process.env.REQUIRE_DOCKER === '1') {
    describe(name, () => {
      it('needs a Docker Engine', () => {
        throw new Error(
          'Docker Engine required (REQUIRE_DOCKER=1) but not reachable at /var/run/docker.sock: run scripts/install-docker.sh',
        );
      });
    });
  } else {
    console.warn(
      `\n!!! SKIPPED "${name}": no Docker Engine reachable (run scripts/install-docker.sh; CI sets REQUIRE_DOCKER=1 and fails instead)\n`,
    );
    describe.skipIf(true)(name, fn);
  }
}
