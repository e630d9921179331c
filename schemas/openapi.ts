/** The OpenAPI 3 document, built from the same schemas that validate requests. */
import { kinds } from './kinds';

export function openApiDocument(version = '0.1.0'): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  const paths: Record<string, unknown> = {};
  for (const k of kinds) {
    const id = `${k.group || 'core'}.${k.version}.${k.kind}`;
    schemas[id] = JSON.parse(JSON.stringify(k.schema));
    const prefix = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
    const collection = k.namespaced ? `${prefix}/namespaces/{namespace}/${k.plural}` : `${prefix}/${k.plural}`;
    const ref = { $ref: `#/components/schemas/${id}` };
    const body = {
      required: true,
      content: { 'application/json': { schema: ref }, 'application/yaml': { schema: ref } },
    };
    const ok = { description: 'OK', content: { 'application/json': { schema: ref } } };
    paths[collection] = {
      get: {
        summary: `list ${k.plural}`,
        parameters: [{ name: 'labelSelector', in: 'query', schema: { type: 'string' } }],
        responses: { '200': { description: `${k.listKind}` } },
      },
      post: {
        summary: `create a ${k.kind}`,
        requestBody: body,
        responses: { '201': ok, '409': { description: 'AlreadyExists' }, '422': { description: 'Invalid' } },
      },
    };
    paths[`${collection}/{name}`] = {
      get: { summary: `read a ${k.kind}`, responses: { '200': ok, '404': { description: 'NotFound' } } },
      put: {
        summary: `replace a ${k.kind}`,
        requestBody: body,
        responses: { '200': ok, '409': { description: 'Conflict' }, '422': { description: 'Invalid' } },
      },
      patch: { summary: `merge-patch a ${k.kind}`, responses: { '200': ok } },
      delete: { summary: `delete a ${k.kind}`, responses: { '200': ok } },
    };
    if (k.subresources.includes('status')) {
      paths[`${collection}/{name}/status`] = {
        get: { responses: { '200': ok } },
        put: { requestBody: body, responses: { '200': ok } },
      };
    }
    if (k.subresources.includes('rollback')) {
      paths[`${collection}/{name}/rollback`] = {
        post: {
          summary: `roll a ${k.kind} back to a revision: body {"rollbackTo": {"revision": N}}, N 0 or absent = the previous one`,
          responses: { '200': { description: 'Status' }, '422': { description: 'Invalid: no such revision' } },
        },
      };
    }
  }
  paths['/apis/ferry.dev/v1/apply'] = {
    post: {
      summary: 'create or update a bundle of objects (multi-document YAML or JSON); dryRun=All diffs without writing',
      responses: { '200': { description: 'ApplyResult' }, '422': { description: 'Invalid: nothing was written' } },
    },
  };
  return { openapi: '3.0.3', info: { title: 'ferry', version }, paths, components: { schemas } };
}
