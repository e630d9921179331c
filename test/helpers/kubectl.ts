/**
 * Whether kubectl runs here, asked up to three times: `/usr/bin/kubectl` is a dispatcher that may
 * fail once on a loaded machine, and one failed answer used to skip a whole kubectl suite quietly.
 */
import { spawnSync } from 'node:child_process';

export function kubectlAvailable(): boolean {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 }).status === 0) return true;
  }
  return false;
}
