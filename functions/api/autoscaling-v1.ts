/**
 * `/apis/autoscaling/v1/...`: HorizontalPodAutoscalers in their v1 form, served by translating
 * at the edge to the stored v2 (schemas/autoscaling-v1.ts converts): request bodies up, response
 * bodies (objects, lists) down, and a PATCH applied to the v1 view of the stored object and
 * written as a replace of the result. Discovery lists v1 beside v2, v2 preferred, as Kubernetes
 * does. Not translated, so refused: watches (kubectl watches the preferred v2) and server-side
 * apply, which keeps field owners per version (use autoscaling/v2).
 */
import { type HorizontalPodAutoscaler, HPA_KIND } from '../../schemas';
import { hpaFromV1, hpaToV1 } from '../../schemas/autoscaling-v1';
import { BadRequestError, FerryError } from '../errors';
import { mediaType, parseBody } from './body';
import { errorResponse, jsonResponse } from './http-errors';
import { applyPatch, PATCH_TYPES } from './patch';
import type { ApiDeps, ApiHandler, ApiRequest, ApiResponse } from './types';

const V1 = '/apis/autoscaling/v1';
const V2 = '/apis/autoscaling/v2';

export function isAutoscalingV1(path: string): boolean {
  return path === V1 || path === `${V1}/` || path.startsWith(`${V1}/`);
}

export const AUTOSCALING_V1_VERSION = { groupVersion: 'autoscaling/v1', version: 'v1' };

function resourceList(): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'autoscaling/v1',
    resources: [
      {
        name: 'horizontalpodautoscalers',
        singularName: 'horizontalpodautoscaler',
        namespaced: true,
        kind: HPA_KIND,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'],
        shortNames: ['hpa'],
      },
      {
        name: 'horizontalpodautoscalers/status',
        singularName: '',
        namespaced: true,
        kind: HPA_KIND,
        verbs: ['get', 'patch', 'update'],
      },
    ],
  };
}

/** Serves a v1 request through `inner`, the API for v2. */
export async function serveAutoscalingV1(deps: ApiDeps, req: ApiRequest, inner: ApiHandler): Promise<ApiResponse> {
  try {
    const rest = req.path.slice(V1.length).replace(/^\/$/, '');
    if (rest === '') {
      if (req.method !== 'GET') throw new BadRequestError(`${req.method} ${V1}: only GET`);
      // Discovery is for any authenticated caller: let the v2 list check the token.
      const check = await inner({ ...req, path: V2 });
      return check.status === 200 ? jsonResponse(200, resourceList()) : check;
    }
    if (req.query.get('watch') === 'true' || req.query.get('watch') === '1')
      throw new BadRequestError(
        'watching autoscaling/v1 HorizontalPodAutoscalers is not supported; watch autoscaling/v2',
      );
    const path = V2 + rest;
    if (req.method === 'POST' || req.method === 'PUT') {
      return down(await inner({ ...req, path, ...upBody(deps, req) }));
    }
    if (req.method === 'PATCH') return down(await patchV1(deps, req, path, inner));
    return down(await inner({ ...req, path }));
  } catch (err) {
    return errorResponse(err, deps.log, { method: req.method, path: req.path });
  }
}

function upBody(deps: ApiDeps, req: ApiRequest): Pick<ApiRequest, 'body' | 'headers'> {
  const body = hpaFromV1(parseBody(req, deps.config.maxBodyBytes));
  return {
    body: new TextEncoder().encode(JSON.stringify(body)),
    headers: { ...req.headers, 'content-type': 'application/json' },
  };
}

/** A patch of the v1 view: read, convert, patch, convert back, replace (a stale read is a 409, as for any replace). */
async function patchV1(deps: ApiDeps, req: ApiRequest, path: string, inner: ApiHandler): Promise<ApiResponse> {
  const type = mediaType(req);
  if (type === 'application/apply-patch+yaml')
    throw new FerryError(
      415,
      'UnsupportedMediaType',
      'server-side apply of autoscaling/v1 HorizontalPodAutoscalers is not supported; apply them as autoscaling/v2',
    );
  if (!(PATCH_TYPES as readonly string[]).includes(type))
    throw new BadRequestError(`a PATCH needs Content-Type ${PATCH_TYPES.join(', ')} (got ${JSON.stringify(type)})`);
  const patch = parseBody(req, deps.config.maxBodyBytes);
  const current = await inner({
    method: 'GET',
    path,
    query: new URLSearchParams(),
    headers: { authorization: req.headers.authorization ?? '' },
  });
  if (current.status !== 200) return current;
  const v1 = hpaToV1(JSON.parse(current.body) as HorizontalPodAutoscaler);
  const patched = applyPatch(type, v1, patch);
  const body = new TextEncoder().encode(JSON.stringify(hpaFromV1(patched)));
  return inner({ ...req, method: 'PUT', path, body, headers: { ...req.headers, 'content-type': 'application/json' } });
}

/** Where a v1 body's CPU target lands in v2: a refusal of it names the v1 field. */
const V2_CPU_TARGET = 'spec.metrics[0].resource.target.averageUtilization';
const V1_CPU_TARGET = 'spec.targetCPUUtilizationPercentage';

/** The v1 form of a v2 answer (an object, a list, a refusal's field names); anything else (a Table) as it is. */
function down(res: ApiResponse): ApiResponse {
  if (res.stream || !(res.headers['content-type'] ?? '').includes('json') || res.body === '') return res;
  if (res.status === 422) return { ...res, body: res.body.split(V2_CPU_TARGET).join(V1_CPU_TARGET) };
  const body = JSON.parse(res.body) as { kind?: string; apiVersion?: string; items?: HorizontalPodAutoscaler[] };
  if (body.kind === HPA_KIND && body.apiVersion === 'autoscaling/v2')
    return { ...res, body: JSON.stringify(hpaToV1(body as unknown as HorizontalPodAutoscaler)) };
  if (body.kind === `${HPA_KIND}List`)
    return {
      ...res,
      body: JSON.stringify({ ...body, apiVersion: 'autoscaling/v1', items: (body.items ?? []).map(hpaToV1) }),
    };
  return res;
}
