import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Docker-backed e2e suites share one Docker Engine; run files one at a time there
    // and let the fast unit suites use both cores.
    pool: 'forks',
    // Two Docker suites at once on 2 cores slow each other past their convergence bounds.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // A focused test must never land: fail the run instead of silently skipping the rest.
    allowOnly: false,
    // The AWS SDK warns on Node 20 that releases from 2027 need Node 22; the Lambda runtime is
    // nodejs22.x, and the warning says nothing about the tests.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
