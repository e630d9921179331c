/**
 * Reads the manifests `apply -f` and `delete -f` take: files, directories (*.yaml, *.yml, *.json,
 * sorted; recursive only with -R) and `-` for stdin. Parsed here, not on the server, so a syntax
 * error names the file and line and nothing is sent.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KUBERNETES_YAML } from '../schemas';
import type { CliIo } from './context';
import { CliError } from './errors';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface SourcedManifest {
  object: Manifest;
  /** `examples/web.yaml` or `examples/web.yaml (document 2)`, for error messages. */
  source: string;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

export async function readManifests(io: CliIo, paths: string[], recursive: boolean): Promise<SourcedManifest[]> {
  const cwd = io.cwd ?? process.cwd();
  const result: SourcedManifest[] = [];
  for (const p of paths) {
    if (p === '-') {
      result.push(...parseManifests(await readStdin(io), '<stdin>'));
      continue;
    }
    const abs = resolve(cwd, p);
    for (const file of await expand(abs, recursive, p)) {
      const text = await readFile(file, 'utf8').catch((e: Error) => {
        throw new CliError(`reading ${relative(cwd, file) || file}: ${e.message}`);
      });
      result.push(...parseManifests(text, relative(cwd, file) || file));
    }
  }
  if (result.length === 0) throw new CliError(`no manifests found in ${paths.join(', ')}`);
  return result;
}

async function expand(abs: string, recursive: boolean, shown: string): Promise<string[]> {
  const info = await stat(abs).catch(() => {
    throw new CliError(`the path "${shown}" does not exist`);
  });
  if (!info.isDirectory()) return [abs];
  const entries = await readdir(abs, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const e of entries) {
    const full = join(abs, e.name);
    if (e.isDirectory()) {
      if (recursive) files.push(...(await expand(full, recursive, join(shown, e.name))));
    } else if (MANIFEST_EXT.test(e.name)) {
      files.push(full);
    }
  }
  return files;
}

async function readStdin(io: CliIo): Promise<string> {
  if (!io.stdin) throw new CliError('-f - needs manifests on stdin');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of io.stdin)
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Every non-empty document; a `v1 List` (or any `*List`) is flattened into its items. */
export function parseManifests(text: string, source: string): SourcedManifest[] {
  // As the server and kubectl read YAML (0755 is octal): schemas/yaml.ts.
  const docs = parseAllDocuments(text, { ...KUBERNETES_YAML, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const result: SourcedManifest[] = [];
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${source} (document ${i + 1})` : source;
    const first = doc.errors[0];
    if (first) {
      const line = first.linePos?.[0];
      const at = line ? `${source}:${line.line}:${line.col}` : where;
      throw new CliError(`parsing ${at}: ${first.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const items = Array.isArray(value) ? value : isList(value) ? value.items : [value];
    items.forEach((item: unknown, j: number) => {
      const itemWhere = items.length > 1 ? `${where} item ${j}` : where;
      result.push({ object: checkShape(item, itemWhere), source: itemWhere });
    });
  });
  return result;
}

function isList(value: unknown): value is { items: unknown[] } {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, items } = value as { kind?: unknown; items?: unknown };
  return typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items);
}

/** Only what the CLI itself needs (kind, name) is checked here; the server validates the rest. */
function checkShape(value: unknown, where: string): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${where}: a manifest must be an object with apiVersion, kind and metadata`);
  }
  const obj = value as Record<string, unknown>;
  const missing = ['apiVersion', 'kind'].filter((k) => typeof obj[k] !== 'string' || obj[k] === '');
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (typeof meta?.name !== 'string' || meta.name === '') missing.push('metadata.name');
  if (missing.length > 0) throw new CliError(`${where}: ${missing.join(', ')}: required`);
  return obj as Manifest;
}
