/**
 * OpenAPI v3 as the Kubernetes API server serves it, which kubectl reads before `apply` and
 * `create` (and for `explain`): `/openapi/v3` is an index of one document per group-version
 * (`{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}}}`), and
 * each of those describes its kinds' paths and schemas.
 * https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3
 *
 * What kubectl looks for (k8s.io/cli-runtime resource/query_param_verifier_v3.go, kubectl
 * apply/patcher.go): a PATCH operation carrying `x-kubernetes-group-version-kind` whose parameters
 * include `fieldValidation` (then it leaves validation to the server and sends
 * `fieldValidation=Strict`), whose request body offers `application/strategic-merge-patch+json`
 * (then it computes its apply patch from the component schema marked with that kind, reading
 * `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key`, which come from the same list-key
 * table the server merges with: schemas/list-keys.ts).
 *
 * Everything is derived from schemas/ on the first request and kept (the schemas do not change
 * while a process runs); nothing is built at start.
 */
import { createHash } from 'node:crypto';
import { type KindInfo, kinds } from '../../schemas';
import { mergeKeyAt } from '../../schemas/list-keys';
import { NotFoundError } from '../errors';
import type { ApiResponse } from './types';

type Rec = Record<string, unknown>;

export interface OpenApiV3 {
  /** The `/openapi/v3` index. */
  root: string;
  /** Each group-version's document by its path (`api/v1`, `apis/apps/v1`) and its hash. */
  docs: Map<string, { body: string; hash: string }>;
}

let built: OpenApiV3 | undefined;

/** The documents, built once per process on first use. */
export function openApiV3(): OpenApiV3 {
  if (built) return built;
  const byPath = new Map<string, KindInfo[]>();
  for (const k of kinds) {
    const path = groupVersionPath(k.group, k.version);
    byPath.set(path, [...(byPath.get(path) ?? []), k]);
  }
  const docs = new Map<string, { body: string; hash: string }>();
  const paths: Rec = {};
  for (const [path, members] of [...byPath].sort(([a], [b]) => a.localeCompare(b))) {
    const body = JSON.stringify(groupVersionDocument(members));
    const hash = createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase();
    docs.set(path, { body, hash });
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  built = { root: JSON.stringify({ paths }), docs };
  return built;
}

/** `/openapi/v3/{gvPath}`: the document, or 404 for a group-version ferry does not serve. */
export function openApiV3Document(gvPath: string): { body: string; hash: string } {
  const doc = openApiV3().docs.get(gvPath);
  if (!doc)
    throw new NotFoundError('', gvPath, `the server could not find the requested resource (/openapi/v3/${gvPath})`);
  return doc;
}

function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** Kubernetes' definition names (`io.k8s.api.apps.v1.Deployment`); ferry's own group reversed. */
function definitionName(k: KindInfo): string {
  if (k.group === '' || !k.group.includes('.') || k.group.endsWith('.k8s.io'))
    return `io.k8s.api.${k.group.split('.')[0] || 'core'}.${k.version}.${k.kind}`;
  return `${k.group.split('.').reverse().join('.')}.${k.version}.${k.kind}`;
}

const PATCH_SCHEMA = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch';
const query = (name: string, description: string) => ({ name, in: 'query', description, schema: { type: 'string' } });
const DRY_RUN = query('dryRun', 'All: validate and answer without writing');
const FIELD_MANAGER = query('fieldManager', 'the actor making the change, recorded in metadata.managedFields');
const FIELD_VALIDATION = query(
  'fieldValidation',
  'Strict: unknown or duplicate fields fail the request; Warn: they are dropped with a Warning header; Ignore: dropped silently',
);
const FORCE = query('force', 'server-side apply: take the fields other managers own (true|false)');
const WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH_TYPES = [
  'application/apply-patch+yaml',
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

function groupVersionDocument(members: KindInfo[]): Rec {
  const paths: Rec = {};
  const schemas: Rec = { [PATCH_SCHEMA]: { type: 'object', description: 'a patch body, of the Content-Type given' } };
  for (const k of members) {
    const name = definitionName(k);
    const gvk = { group: k.group, version: k.version, kind: k.kind };
    const schema = annotateLists(k.kind, JSON.parse(JSON.stringify(k.schema)) as Rec, []);
    schemas[name] = { ...schema, 'x-kubernetes-group-version-kind': [gvk] };
    const ref = { $ref: `#/components/schemas/${name}` };
    const json = (schemaRef: Rec) => ({ content: { 'application/json': { schema: schemaRef } } });
    const op = (action: string, extra: Rec) => ({
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      ...extra,
    });
    const write = (action: string) =>
      op(action, {
        parameters: WRITE_PARAMS,
        requestBody: json(ref),
        responses: { '200': { description: 'OK', ...json(ref) } },
      });
    const patch = op('patch', {
      parameters: [...WRITE_PARAMS, FORCE],
      requestBody: {
        content: Object.fromEntries(
          PATCH_TYPES.map((t) => [t, { schema: { $ref: `#/components/schemas/${PATCH_SCHEMA}` } }]),
        ),
      },
      responses: { '200': { description: 'OK', ...json(ref) } },
    });
    const prefix = `/${groupVersionPath(k.group, k.version)}`;
    const collection = k.namespaced ? `${prefix}/namespaces/{namespace}/${k.plural}` : `${prefix}/${k.plural}`;
    paths[collection] = {
      get: op('list', { responses: { '200': { description: k.listKind } } }),
      post: { ...write('post'), responses: { '201': { description: 'Created', ...json(ref) } } },
    };
    paths[`${collection}/{name}`] = {
      get: op('get', { responses: { '200': { description: 'OK', ...json(ref) } } }),
      put: write('put'),
      patch,
      delete: op('delete', { responses: { '200': { description: 'OK' } } }),
    };
    if (k.subresources.includes('status'))
      paths[`${collection}/{name}/status`] = {
        get: op('get', { responses: { '200': { description: 'OK', ...json(ref) } } }),
        put: write('put'),
        patch,
      };
  }
  return { openapi: '3.0.0', info: { title: 'ferry', version: 'v1' }, paths, components: { schemas } };
}

/**
 * Marks the lists the server merges by key as Kubernetes' schemas do, so a patch kubectl
 * computes from this document merges where ferry merges (and only there).
 */
function annotateLists(kind: string, schema: Rec, path: string[]): Rec {
  const props = schema.properties;
  if (isRec(props))
    for (const [field, sub] of Object.entries(props)) if (isRec(sub)) annotateLists(kind, sub, [...path, field]);
  for (const union of ['anyOf', 'oneOf', 'allOf'])
    if (Array.isArray(schema[union]))
      for (const sub of schema[union] as unknown[]) if (isRec(sub)) annotateLists(kind, sub, path);
  if (schema.type === 'array') {
    const key = path.length > 0 ? mergeKeyAt(kind, path) : undefined;
    if (key === '') Object.assign(schema, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'set' });
    else if (key !== undefined)
      Object.assign(schema, {
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-patch-merge-key': key,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': [key],
      });
    else schema['x-kubernetes-list-type'] = 'atomic';
    if (isRec(schema.items)) annotateLists(kind, schema.items, path);
  }
  return schema;
}

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The index, or one group-version's document. A URL with the document's current hash may be
 * cached for good (the API server says the same); any other answer is revalidated.
 */
export function openApiV3Response(path: string | undefined, hash: string | null): ApiResponse {
  const v3 = openApiV3();
  const doc = path === undefined ? { body: v3.root, hash: undefined } : openApiV3Document(path);
  const immutable = doc.hash !== undefined && hash === doc.hash;
  return {
    status: 200,
    headers: {
      'content-type': 'application/json',
      'cache-control': immutable ? 'public, immutable, max-age=31536000' : 'no-cache, private',
    },
    body: doc.body,
  };
}

/**
 * `/openapi/v2`, which kubectl still reads for one thing: validating a `v1` List file client-side
 * (a List is no kind the v3 documents can vouch for). The document lists no definitions, on
 * purpose: kubectl then skips its client-side check of each item (a kind absent from it is not
 * checked), and the server checks every item as kubectl sends it, with the `fieldValidation` the
 * v3 documents offer. kubectl asks for the gnostic protobuf form; JSON otherwise.
 */
export function openApiV2Response(accept: string | undefined): ApiResponse {
  if ((accept ?? '').includes('application/com.github.proto-openapi.spec.v2')) {
    return {
      status: 200,
      // The API server answers with the type spelled without the `@`, which Go's mime parser refuses.
      headers: { 'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' },
      body: V2_PROTOBUF,
    };
  }
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ swagger: '2.0', info: V2_INFO, paths: {}, definitions: {} }),
  };
}

const V2_INFO = { title: 'ferry', version: 'v1' };

/**
 * The same document as openapi_v2.Document (gnostic openapiv2/OpenAPIv2.proto): swagger = 1,
 * info = 2 (title = 1, version = 2), paths = 8, definitions = 9. Every byte is below 0x80, so the
 * string is its own UTF-8 encoding.
 */
const V2_PROTOBUF = (() => {
  const field = (n: number, payload: string) => String.fromCharCode((n << 3) | 2, payload.length) + payload;
  return field(1, '2.0') + field(2, field(1, V2_INFO.title) + field(2, V2_INFO.version)) + field(8, '') + field(9, '');
})();
