/**
 * Request bodies: bytes -> UTF-8 text -> JSON or YAML value, chosen by Content-Type, and checked
 * for hostile shapes before any other code sees them. Every failure is a 4xx that says where:
 * malformed input names the line and column, a forbidden key or a too-deep value names the path.
 *
 * Every step is linear in the input: the duplicate-key checks (JSON and YAML alike refuse a key
 * given twice, as Kubernetes' strict decoding does) keep one set per object; and the size of what
 * the text expands to (YAML aliases) is bounded, not only the size of the text.
 *
 * YAML is read as Kubernetes' tools read it (schemas/yaml.ts: go-yaml v2's YAML 1.1 scalars, so
 * `0755` is octal and `on` is true), as the CLI reads manifests.
 */
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
import { KUBERNETES_YAML, MAX_DEPTH, MAX_OBJECT_BYTES, sizeUpTo, treeProblems } from '../../schemas';
import { BadRequestError, FerryError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors';
import type { ApiRequest } from './types';

export { MAX_DEPTH };

/**
 * Parsers recurse per nesting level: a body of 200,000 `[` would cost seconds or the stack. A
 * cheap scan refuses bracket nesting far beyond MAX_DEPTH before parsing; the exact limit is
 * checked on the parsed value (checkTree). The scan is generous because in YAML a bracket inside
 * a plain scalar is just text.
 */
const MAX_SCAN_DEPTH = 512;
/** YAML aliases expand; a "billion laughs" document is stopped here (the yaml library's default). */
const MAX_ALIASES = 100;
/**
 * What all documents of one body may expand to, as JSON: aliases aside, JSON of a YAML manifest
 * is at most about twice its text, so four times the body limit leaves room for any honest body.
 */
const EXPANSION_FACTOR = 4;

const JSON_TYPES = new Set([
  'application/json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
]);
// A server-side apply body (application/apply-patch+yaml) is YAML or JSON, as YAML reads JSON.
const YAML_TYPES = new Set([
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'text/x-yaml',
  'application/apply-patch+yaml',
]);
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
  const json = JSON_TYPES.has(type);
  if (!json && !YAML_TYPES.has(type) && type !== '') throw new UnsupportedMediaTypeError(type);
  const text = bodyText(req, maxBytes);
  if (bracketDepthExceeds(text, MAX_SCAN_DEPTH)) throw tooDeep('');
  const docs = json ? (text.trim() === '' ? [] : [parseJson(text)]) : parseYaml(text);
  let budget = Math.max(MAX_OBJECT_BYTES, EXPANSION_FACTOR * maxBytes);
  for (const doc of docs) budget -= checkTree(doc, budget);
  return docs;
}

function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('');
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const where = at ? lineColumn(text, Number(at[1])) : lineColumn(text, text.length);
    const what = message.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
    throw new BadRequestError(`malformed JSON at line ${where.line}, column ${where.column}: ${what}`);
  }
  const dup = duplicateJsonKey(text);
  if (dup) {
    const where = lineColumn(text, dup.offset);
    throw new BadRequestError(
      `malformed JSON at line ${where.line}, column ${where.column}: duplicate key ${JSON.stringify(dup.key)}`,
      {
        causes: [
          { reason: 'FieldValueDuplicate', message: `duplicate key ${JSON.stringify(dup.key)}`, field: dup.key },
        ],
      },
    );
  }
  return value;
}

/**
 * The first key an object of `text` (valid JSON) holds twice, in one pass: a set of keys per open
 * object; a string right after `{` or after `,` inside an object is a key.
 */
function duplicateJsonKey(text: string): { key: string; offset: number } | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \\ */) {
          escaped = true;
          i++;
        } else if (d === 34) break;
      }
      if (!expectKey) continue;
      expectKey = false;
      const raw = text.slice(start, i + 1);
      const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      const keys = stack[stack.length - 1];
      if (keys?.has(key)) return { key, offset: start };
      keys?.add(key);
    } else if (c === 123 /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 91 /* [ */) stack.push(null);
    else if (c === 125 /* } */ || c === 93 /* ] */) stack.pop();
    else if (c === 44 /* , */) expectKey = stack[stack.length - 1] instanceof Set;
  }
  return undefined;
}

function parseYaml(text: string): unknown[] {
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text, {
      ...KUBERNETES_YAML,
      // The library's own check compares every pair with every other (quadratic): checked below.
      uniqueKeys: false,
      prettyErrors: false,
    }) as Document.Parsed[];
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
    const dup = duplicateYamlKey(doc.contents);
    if (dup) {
      const pos = lineColumn(text, dup.offset);
      throw new BadRequestError(
        `malformed YAML at line ${pos.line}, column ${pos.column}: Map keys must be unique (duplicate key ${JSON.stringify(dup.key)})`,
        {
          causes: [
            { reason: 'FieldValueDuplicate', message: `duplicate key ${JSON.stringify(dup.key)}`, field: dup.key },
          ],
        },
      );
    }
    try {
      out.push(doc.toJS({ maxAliasCount: MAX_ALIASES }));
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep('');
      throw new BadRequestError(`unusable YAML: ${(err as Error).message}`);
    }
  }
  return out;
}

/** The first key a YAML mapping holds twice, keyed as the JSON key it becomes; aliases are not followed. */
function duplicateYamlKey(root: unknown): { key: string; offset: number } | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) continue;
    if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isMap(node)) {
      const keys = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = pair.key;
        if (isScalar(k)) {
          const key = String(k.value ?? '');
          if (key === '<<' && k.source === '<<') {
            stack.push(pair.value);
            continue;
          }
          if (keys.has(key)) return { key, offset: k.range?.[0] ?? 0 };
          keys.add(key);
        } else stack.push(k);
        stack.push(pair.value);
      }
    }
  }
  return undefined;
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
 * Refuses values no manifest needs and some code could trip over (schemas/tree.ts: keys that name
 * prototype machinery, nesting deeper than MAX_DEPTH, numbers JSON cannot carry such as YAML's
 * .inf/.nan) and values larger than `maxBytes` as JSON (413). Returns the value's JSON size.
 */
export function checkTree(value: unknown, maxBytes = MAX_OBJECT_BYTES): number {
  const problem = treeProblems(value, maxBytes, 1)[0];
  if (!problem) return sizeUpTo(value, maxBytes);
  const path = problem.path;
  switch (problem.type) {
    case 'depth':
      throw tooDeep(path);
    case 'number':
      throw new BadRequestError(`${path || 'body'}: ${problem.value} is not a finite number`, {
        causes: [{ reason: 'FieldValueInvalid', message: 'not a finite number', field: path }],
      });
    case 'key':
      throw new BadRequestError(`${path}: the key ${JSON.stringify(problem.key)} is not allowed`, {
        causes: [
          {
            reason: 'FieldValueForbidden',
            message: `the key ${JSON.stringify(problem.key)} is not allowed`,
            field: path,
          },
        ],
      });
    case 'size':
      throw new FerryError(
        413,
        'RequestEntityTooLarge',
        `the object would be larger than the limit of ${problem.limit} bytes as JSON (YAML aliases and patches count as expanded)`,
      );
  }
}

function tooDeep(path: string): BadRequestError {
  const where = path ? ` at ${path}` : '';
  return new BadRequestError(`request body is nested deeper than ${MAX_DEPTH} levels${where}`);
}
