import { randomUUID } from 'node:crypto';
import { defineConfig } from 'vitest/config';

// The suites that drive the one Docker Engine of the machine, with agents on 127.0.1.N:80,
// iptables chains and container names of their own: they run one file at a time, after the rest.
// Two of them at once on 2 cores slow each other past their convergence bounds.
const DOCKER = ['test/e2e/**/*.test.ts', 'test/conformance/runtime.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // A focused test must never land: fail the run instead of silently skipping the rest.
    allowOnly: false,
    // The AWS SDK warns on Node 20 that releases from 2027 need Node 22; the Lambda runtime is
    // nodejs22.x, and the warning says nothing about the tests.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // Tells this run's `dist/` from an earlier run's (test/helpers/build.ts builds it once per run).
    provide: { ferryRunId: randomUUID() },
    projects: [
      {
        extends: true,
        test: {
          // Everything without Docker: servers on ephemeral loopback ports, data in their own
          // temp dirs, so files run side by side. Three workers on 2 cores: most of these files
          // wait on timers, child processes and sockets more than they compute.
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: DOCKER,
          maxWorkers: 3,
          // A bound against hangs, asserting nothing: three files at once on 2 cores (and whatever
          // else shares the machine) stretch the CPU-bound tests several-fold (a 4-hour simulation,
          // loading the cloud SDKs, compiling the pod schema: 1-2 s alone, past 20 s on a busy machine).
          testTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'docker', include: DOCKER, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
