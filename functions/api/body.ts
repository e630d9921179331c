/**
 * Request bodies: bytes -> UTF-8 text -> JSON or YAML value, chosen by Content-Type, and checked
 * for hostile shapes before any other code sees them. Every failure is a 4xx that says where:
 * malformed input names the line and column, a forbidden key or a too-deep value names the path.
 */
import { type Document, parseAllDocuments } from 'yaml';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors';
import type { ApiRequest } from './types';

/** Deeper than any real manifest (a Deployment's pod template is ~12 levels). */
export const MAX_DEPTH = 64;
/** Keys that could reach Object.prototype if any code ever assigned them; refused outright. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/**
 * Parsers recurse per nesting level: a body of 200,000 `[` would cost seconds or the stack. A
 * cheap scan refuses bracket nesting far beyond MAX_DEPTH before parsing; the exact limit is
 * checked on the parsed value (checkTree). The scan is generous because in YAML a bracket inside
 * a plain scalar is just text.
 */
const MAX_SCAN_DEPTH = 512;
/** YAML aliases expand; a "billion laughs" document is stopped here. */
const MAX_ALIASES = 100;

const JSON_TYPES = new Set([
  'application/json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
]);
const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);

/** The media type without parameters, lower-cased; '' when the header is absent. */
export function mediaType(req: ApiRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The body as text: 413 over the limit, 400 when it is not UTF-8. */
export function bodyText(req: ApiRequest, maxBytes: number): string {
  const bytes = req.body ?? new Uint8Array();
  if (bytes.byteLength > maxBytes) throw new PayloadTooLargeError(maxBytes);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new BadRequestError('request body is not valid UTF-8 text');
  }
}

/** One JSON or YAML value (a request for a single object or a patch). */
export function parseBody(req: ApiRequest, maxBytes: number): unknown {
  const docs = parseDocuments(req, maxBytes);
  if (docs.length !== 1) {
    throw new BadRequestError(
      docs.length === 0 ? 'request body is empty' : `request body has ${docs.length} documents; expected one`,
    );
  }
  return docs[0];
}

/** Every document of a JSON or (multi-document) YAML body; empty YAML documents are skipped. */
export function parseDocuments(req: ApiRequest, maxBytes: number): unknown[] {
  const type = mediaType(req);
  const text = bodyText(req, maxBytes);
  if (bracketDepthExceeds(text, MAX_SCAN_DEPTH)) throw tooDeep('');
  let docs: unknown[];
  if (JSON_TYPES.has(type)) docs = text.trim() === '' ? [] : [parseJson(text)];
  else if (YAML_TYPES.has(type) || type === '') docs = parseYaml(text);
  else throw new UnsupportedMediaTypeError(type);
  for (const doc of docs) checkTree(doc);
  return docs;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('');
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const where = at ? lineColumn(text, Number(at[1])) : lineColumn(text, text.length);
    const what = message.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
    throw new BadRequestError(`malformed JSON at line ${where.line}, column ${where.column}: ${what}`);
  }
}

function parseYaml(text: string): unknown[] {
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false }) as Document.Parsed[];
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('');
    throw err;
  }
  if (!Array.isArray(documents)) return []; // an empty stream
  const out: unknown[] = [];
  for (const doc of documents) {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0] ?? lineColumn(text, error.pos[0]);
      const what = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'syntax error';
      throw new BadRequestError(`malformed YAML at line ${pos.line}, column ${pos.col ?? 1}: ${what}`);
    }
    if (doc.contents === null) continue;
    try {
      out.push(doc.toJS({ maxAliasCount: MAX_ALIASES }));
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep('');
      throw new BadRequestError(`unusable YAML: ${(err as Error).message}`);
    }
  }
  return out;
}

function bracketDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let quote = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === 92 /* \\ */ && quote === 34) i++;
      else if (c === quote || c === 10) quote = 0;
    } else if (c === 34 /* " */ || c === 39 /* ' */) quote = c;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if ((c === 93 /* ] */ || c === 125) /* } */ && depth > 0) depth--;
  }
  return false;
}

function lineColumn(text: string, offset: number): { line: number; column: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  const column = offset - start + 1;
  return { line, column, col: column };
}

/**
 * Refuses values no manifest needs and some code could trip over: keys that name prototype
 * machinery, nesting deeper than MAX_DEPTH, and numbers JSON cannot carry (YAML's .inf/.nan).
 */
export function checkTree(value: unknown, path = '', depth = 0): void {
  if (depth > MAX_DEPTH) throw tooDeep(path);
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new BadRequestError(`${path || 'body'}: ${value} is not a finite number`, {
      causes: [{ reason: 'FieldValueInvalid', message: 'not a finite number', field: path }],
    });
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      checkTree(item, `${path}[${i}]`, depth + 1);
    });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const key of Object.keys(value)) {
    const child = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key)) {
      throw new BadRequestError(`${child}: the key ${JSON.stringify(key)} is not allowed`, {
        causes: [
          { reason: 'FieldValueForbidden', message: `the key ${JSON.stringify(key)} is not allowed`, field: child },
        ],
      });
    }
    checkTree((value as Record<string, unknown>)[key], child, depth + 1);
  }
}

function tooDeep(path: string): BadRequestError {
  const where = path ? ` at ${path}` : '';
  return new BadRequestError(`request body is nested deeper than ${MAX_DEPTH} levels${where}`);
}
