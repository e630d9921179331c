/**
 * Compiles a schema family once, not once per kind. TypeBox embeds a copy of every reused schema
 * where it is used, so the PodSpec stood inside Pod, Deployment, ReplicaSet, Job and CronJob (and
 * Container twice inside each, Probe three times inside Container) and Ajv generated code for each
 * copy: 2.5 MB of validator source and about 65 MB of resident memory at start. This walks a
 * schema bottom-up and replaces every large subschema with a `$ref` to one registered copy, keyed
 * by its content, so each distinct subschema is compiled exactly once across all kinds. Error
 * paths are data paths (`instancePath`), which `$ref` does not change.
 */
import { createHash } from 'node:crypto';
import type Ajv from 'ajv';

/** Subschemas smaller than this (serialized) stay inline: a call costs more than the code saved. */
const MIN_SHARED_CHARS = 1024;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Content ids already registered with each Ajv instance. */
const registered = new WeakMap<Ajv, Set<string>>();

export function shareSubschemas(ajv: Ajv, schema: object): object {
  const known = registered.get(ajv) ?? new Set<string>();
  registered.set(ajv, known);
  const visit = (node: Json, isRoot: boolean): Json => {
    if (Array.isArray(node)) return node.map((n) => visit(n, false));
    if (node === null || typeof node !== 'object') return node;
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(node)) {
      // `properties` and `patternProperties` hold names, not schemas: visit their values only.
      out[k] = k === 'properties' || k === 'patternProperties' ? mapValues(v, (s) => visit(s, false)) : visit(v, false);
    }
    const text = JSON.stringify(out);
    if (isRoot || text.length < MIN_SHARED_CHARS || !isSchemaLike(out)) return out;
    const id = `ferry:shared/${createHash('sha256').update(text).digest('base64url').slice(0, 16)}`;
    if (!known.has(id)) {
      ajv.addSchema({ ...out, $id: id });
      known.add(id);
    }
    return { $ref: id };
  };
  // JSON round trip: drops TypeBox's symbol keys and any undefined, as Ajv would see them.
  return visit(JSON.parse(JSON.stringify(schema)) as Json, true) as object;
}

function mapValues(v: Json, fn: (s: Json) => Json): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, s]) => [k, fn(s)]));
}

function isSchemaLike(node: { [key: string]: Json }): boolean {
  return 'type' in node || 'properties' in node || 'anyOf' in node || 'oneOf' in node || 'allOf' in node;
}
