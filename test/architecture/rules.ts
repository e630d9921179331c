/**
 * The import rules as the folder READMEs state them. A README's `May import:` paragraph (up to the
 * next blank line) lists, in backticks, repository paths (`schemas/`, `functions/store/types.ts`)
 * and packages (`yaml`, `@aws-sdk/client-ec2`) up to the word "Never" (what follows it is
 * forbidden); every other backticked word that is neither is ignored. A file is governed by the nearest README above it that has such a paragraph; files
 * governed by the same README may import each other; Node built-ins are always allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import type { ImportEdge } from './imports';

export interface FolderRule {
  /** The folder the README stands in (`functions/api`). */
  folder: string;
  paths: string[];
  packages: string[];
}

const BUILTINS = new Set(builtinModules);
const REPO_PATH = /^(agent|cli|functions|providers|schemas)(\/|$)|^package\.json$/;

export function ruleOf(root: string, folder: string): FolderRule | undefined {
  const readme = join(root, folder, 'README.md');
  if (!existsSync(readme)) return undefined;
  const m = /(?:\*\*May import:\*\*|May import:)([^\n]*(?:\n[^\n]+)*)/.exec(readFileSync(readme, 'utf8'));
  if (!m) return undefined;
  // What follows "Never" names what is forbidden, not allowed.
  const allowedText = (m[1] as string).split(/\bNever\b/)[0] as string;
  const tokens = [...allowedText.matchAll(/`([^`]+)`/g)].map((t) => t[1] as string);
  return {
    folder,
    paths: tokens.filter((t) => REPO_PATH.test(t)),
    packages: tokens.filter((t) => !REPO_PATH.test(t) && /^(@[a-z0-9-]+\/)?[a-z0-9.-]+$/.test(t)),
  };
}

/** The rule that governs `file`: its nearest folder with a `May import:` README. */
export function governingRule(root: string, file: string): FolderRule | undefined {
  for (let dir = dirname(file); dir !== '.' && dir !== ''; dir = dirname(dir)) {
    const rule = ruleOf(root, dir);
    if (rule) return rule;
  }
  return undefined;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** Why `edge` breaks its file's rule, or undefined when the rule allows it. */
export function violation(root: string, edge: ImportEdge): string | undefined {
  const rule = governingRule(root, edge.from);
  if (!rule) return `${edge.from} has no folder README with a "May import:" rule`;
  const to = edge.to;
  if (to.startsWith('node:') || BUILTINS.has(to)) return undefined;
  if (!REPO_PATH.test(to) && !to.startsWith('.')) {
    return rule.packages.includes(packageName(to))
      ? undefined
      : `${edge.from}:${edge.line} imports package "${to}", which ${rule.folder}/README.md does not allow`;
  }
  const target = governingRule(root, to);
  if (target && target.folder === rule.folder) return undefined;
  const allowed = rule.paths.some((p) => (p.endsWith('/') ? to.startsWith(p) : to === p));
  return allowed ? undefined : `${edge.from}:${edge.line} imports ${to}, which ${rule.folder}/README.md does not allow`;
}
