/**
 * The cluster page's files: found at start (from `static/` next to this file when running from
 * source, from `dist/ui/` in a build: scripts/build.mjs copies them there; the bundle that runs
 * this is `dist/cli.js` or a chunk in `dist/chunks/`), read on the first request for one and kept.
 * A server nobody opens the page of never reads them. Undefined when none is found: the server
 * then runs without the page and says so.
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
  const read = new Map<string, string | undefined>();
  return {
    get(name) {
      if (!(UI_FILES as readonly string[]).includes(name)) return undefined;
      if (!read.has(name)) {
        let text: string | undefined;
        try {
          text = readFileSync(join(dir, name), 'utf8');
        } catch {
          text = undefined; // removed since the start: a 404, as any name the page does not have
        }
        read.set(name, text);
      }
      return read.get(name);
    },
  };
}
