/**
 * Reads the cluster page's files once, at start: from `static/` next to this file when running
 * from source, from `dist/ui/` in a build (scripts/build.mjs copies them there; the bundle that
 * runs this is `dist/cli.js` or a chunk in `dist/chunks/`). Undefined when none is found: the
 * server then runs without the page and says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UiFiles } from './serve';

export const UI_FILES = ['index.html', 'app.js', 'style.css'] as const;

export function loadUiFiles(from = dirname(fileURLToPath(import.meta.url))): UiFiles | undefined {
  const dirs = [join(from, 'static'), join(from, 'ui'), join(from, '..', 'ui')];
  const dir = dirs.find((d) => UI_FILES.every((f) => existsSync(join(d, f))));
  if (!dir) return undefined;
  return new Map(UI_FILES.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}
