/** `npm run bench -- NAME` runs bench/NAME.ts; with no name it lists the benchmarks. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const names = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f))
  .map((f) => f.replace(/\.ts$/, ''));
// Arguments starting with -- are the benchmarks' own flags (they read process.argv).
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (wanted.length === 0) {
  console.log(`usage: npm run bench -- NAME\nbenchmarks: ${names.join(', ')}`);
  process.exit(0);
}
for (const name of wanted) {
  if (!names.includes(name)) {
    console.error(`unknown benchmark ${JSON.stringify(name)}; known: ${names.join(', ')}`);
    process.exit(2);
  }
  console.log(`== bench ${name}`);
  await import(pathToFileURL(join(import.meta.dirname, `${name}.ts`)).href);
}
