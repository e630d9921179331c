// Bundles ferry with esbuild: the CLI (which also runs the local control plane), the node agent,
// and one bundle per Lambda function. better-sqlite3 is native and stays external (it is the
// embedded store; the Lambda bundles use DynamoDB and never import it).
import { cpSync, existsSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  // ESM bundles of CJS dependencies need a require() in scope.
  banner: {
    js: "import { createRequire as __ferryRequire } from 'node:module'; const require = __ferryRequire(import.meta.url);",
  },
};

const targets = [
  {
    // Split so a lazily imported module (the local control plane, a cloud adapter) is its own
    // chunk: without splitting esbuild inlines it, and hoists its SDK imports to the top of
    // cli.js, so every command loaded every cloud SDK (about 2 s).
    entryPoints: { cli: 'cli/main.ts' },
    outdir: 'dist',
    external: ['better-sqlite3', '@aws-sdk/*', '@google-cloud/*', '@azure/*'],
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    shebang: true,
  },
  { entryPoints: { agent: 'agent/main.ts' }, outdir: 'dist', external: [], shebang: true },
  {
    // Self-contained for the Lambda zip (the DynamoDB client is bundled, not taken from the
    // runtime). Split into chunks so the lazily imported SQLite store, whose native driver is not
    // in the zip, is only loaded if FERRY_STORE=sqlite asks for it. .mjs: ESM without a package.json.
    entryPoints: { lambda: 'functions/runtime/lambda.ts' },
    outdir: 'dist/functions',
    external: ['better-sqlite3'],
    splitting: true,
    outExtension: { '.js': '.mjs' },
    minify: true,
  },
];

// Chunk names carry a content hash: clear the old ones so the Lambda zip holds only this build's.
rmSync('dist/functions', { recursive: true, force: true });
rmSync('dist/chunks', { recursive: true, force: true });

for (const { shebang, ...t } of targets) {
  const entries = Object.values(t.entryPoints);
  if (!entries.every((e) => existsSync(e))) continue;
  await build({
    ...common,
    ...t,
    banner: { js: (shebang ? '#!/usr/bin/env node\n' : '') + common.banner.js },
  });
}

// The cluster page `ferry server` serves at /ui/ (functions/ui/files.ts finds it next to the bundle).
rmSync('dist/ui', { recursive: true, force: true });
cpSync('functions/ui/static', 'dist/ui', { recursive: true });
