/**
 * Reads the product's import graph from source text (TypeScript 7 has no compiler API to ask):
 * every `import ... from`, `export ... from`, side-effect `import '...'` and `import('...')` of
 * the .ts files under the product folders, resolved to repository paths where relative.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export const PRODUCT_FOLDERS = ['agent', 'cli', 'functions', 'providers', 'schemas'];

export interface ImportEdge {
  /** The importing file, repository-relative (`functions/api/index.ts`). */
  from: string;
  /** A repository-relative .ts path for a relative import, else the bare specifier (`yaml`, `node:fs`). */
  to: string;
  line: number;
  /** `import type` / `export type`: gone at run time, still an arrow in the design. */
  typeOnly: boolean;
}

const STATIC = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(root, path));
    }
  };
  for (const folder of PRODUCT_FOLDERS) if (existsSync(join(root, folder))) walk(join(root, folder));
  return out.sort();
}

function resolve(root: string, from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const base = join(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    if (existsSync(join(root, candidate)) && candidate.endsWith('.ts')) return candidate;
  }
  return base;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export function importEdges(root: string, files = sourceFiles(root)): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const m of text.matchAll(STATIC)) {
      const at = (m.index ?? 0) + m[0].indexOf(m[1] as string);
      edges.push({ from, to: resolve(root, from, m[3] as string), line: lineOf(text, at), typeOnly: !!m[2] });
    }
    for (const m of text.matchAll(DYNAMIC)) {
      edges.push({ from, to: resolve(root, from, m[1] as string), line: lineOf(text, m.index ?? 0), typeOnly: false });
    }
  }
  return edges;
}

/** Strongly connected components of more than one file (Tarjan): the import circles. */
export function importCircles(edges: ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!e.to.endsWith('.ts')) continue;
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)?.add(e.to);
    if (!graph.has(e.to)) graph.set(e.to, new Set());
  }
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) circles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return circles;
}
