/**
 * The token API (`/apis/ferry.dev/v1/tokens`): what a token looks like to a caller (never its
 * hash), list/get/revoke, and the validation of a create request. Issuing and verifying live in
 * `functions/tokens.ts`, which the controllers share.
 */
import type { Deps } from '../deps';
import { InvalidError, NotFoundError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';
import {
  DNS_SUBDOMAIN,
  type IssueOptions,
  MAX_BOOTSTRAP_USES,
  ROLES,
  type Role,
  TOKEN_API_VERSION,
  TOKEN_KIND,
  type TokenRecord,
} from '../tokens';
import { FERRY_GROUP } from './router';

/** Kept for importers on other branches until they import `functions/tokens.ts` directly. */
export { type IssueOptions, issueToken } from '../tokens';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** What the API shows of a token: never the hash. */
export function tokenView(record: TokenRecord, plaintext?: string): Obj {
  const { secretHash: _hash, ...rest } = record;
  const view = structuredClone(rest) as Obj & { status: Record<string, unknown> };
  view.status = { ...(record.status ?? {}) };
  if (plaintext !== undefined) view.status.token = plaintext;
  return view;
}

export async function listTokens(deps: Deps): Promise<Record<string, unknown>> {
  const { items, resourceVersion } = await deps.store.list<TokenRecord>(TOKEN_KIND);
  return {
    apiVersion: TOKEN_API_VERSION,
    kind: 'TokenList',
    metadata: { resourceVersion },
    items: items.map((t) => tokenView(t)),
  };
}

export async function revokeToken(deps: Deps, name: string): Promise<Obj> {
  try {
    return tokenView((await deps.store.delete({ kind: TOKEN_KIND, name })) as TokenRecord);
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new NotFoundError(TOKEN_KIND, name, `tokens.${FERRY_GROUP} "${name}" not found`);
    throw err;
  }
}

export async function getToken(deps: Deps, name: string): Promise<Obj> {
  const record = await deps.store.get<TokenRecord>({ kind: TOKEN_KIND, name });
  if (!record) throw new NotFoundError(TOKEN_KIND, name, `tokens.${FERRY_GROUP} "${name}" not found`);
  return tokenView(record);
}

/** Validates a token create request (POST /apis/ferry.dev/v1/tokens) into issue options. */
export function tokenRequest(body: unknown): IssueOptions {
  const causes: StatusCause[] = [];
  const bad = (field: string, message: string, reason = 'FieldValueInvalid') => causes.push({ field, message, reason });
  const obj = isRecord(body) ? body : {};
  if (!isRecord(body)) bad('', 'must be an object');
  for (const key of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(key)) bad(key, 'unknown field', 'FieldValueNotSupported');
  }
  if (obj.apiVersion !== undefined && obj.apiVersion !== TOKEN_API_VERSION)
    bad('apiVersion', `must be ${TOKEN_API_VERSION}`);
  if (obj.kind !== undefined && obj.kind !== TOKEN_KIND) bad('kind', `must be ${TOKEN_KIND}`);
  const metadata = isRecord(obj.metadata) ? obj.metadata : {};
  if (obj.metadata !== undefined && !isRecord(obj.metadata)) bad('metadata', 'must be an object');
  for (const key of Object.keys(metadata)) {
    if (key !== 'name') bad(`metadata.${key}`, 'unknown field', 'FieldValueNotSupported');
  }
  const name = metadata.name;
  if (name !== undefined && (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name) || name.length > 253)) {
    bad('metadata.name', 'must be a lowercase DNS-1123 subdomain (a-z, 0-9, "-" and ".")');
  }
  const spec = isRecord(obj.spec) ? obj.spec : {};
  if (!isRecord(obj.spec)) bad('spec', 'required', 'FieldValueRequired');
  for (const key of Object.keys(spec)) {
    if (!['role', 'namespaces', 'nodeName', 'maxUses', 'description', 'ttlSeconds'].includes(key)) {
      bad(`spec.${key}`, 'unknown field', 'FieldValueNotSupported');
    }
  }
  const role = spec.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    bad(
      'spec.role',
      `must be one of ${ROLES.join(', ')}`,
      role === undefined ? 'FieldValueRequired' : 'FieldValueNotSupported',
    );
  }
  const namespaces = spec.namespaces;
  if (namespaces !== undefined) {
    if (!Array.isArray(namespaces) || namespaces.length > 100)
      bad('spec.namespaces', 'must be a list of at most 100 namespaces');
    else
      namespaces.forEach((ns, i) => {
        if (typeof ns !== 'string' || !DNS_LABEL.test(ns) || ns.length > 63) {
          bad(`spec.namespaces[${i}]`, 'must be a namespace name (DNS-1123 label)');
        }
      });
  }
  if (role === 'deployer' && (!Array.isArray(namespaces) || namespaces.length === 0)) {
    bad('spec.namespaces', 'a deployer token needs at least one namespace', 'FieldValueRequired');
  }
  if (role !== 'deployer' && namespaces !== undefined)
    bad('spec.namespaces', 'only deployer tokens are limited to namespaces');
  const nodeName = spec.nodeName;
  if (role === 'node' && (typeof nodeName !== 'string' || !DNS_SUBDOMAIN.test(nodeName))) {
    bad('spec.nodeName', 'a node token needs the name of its node', 'FieldValueRequired');
  }
  if (role === 'bootstrap' && nodeName !== undefined && (typeof nodeName !== 'string' || !DNS_SUBDOMAIN.test(nodeName)))
    bad('spec.nodeName', 'must be the node name (DNS-1123 subdomain) this bootstrap token may register');
  if (role !== 'node' && role !== 'bootstrap' && nodeName !== undefined)
    bad('spec.nodeName', 'only node and bootstrap tokens name a node');
  const maxUses = spec.maxUses;
  if (maxUses !== undefined) {
    if (role !== 'bootstrap') bad('spec.maxUses', 'only bootstrap tokens have a number of uses');
    else if (!Number.isInteger(maxUses) || (maxUses as number) < 1 || (maxUses as number) > MAX_BOOTSTRAP_USES)
      bad('spec.maxUses', `must be a whole number from 1 to ${MAX_BOOTSTRAP_USES}`);
  }
  const description = spec.description;
  if (description !== undefined && (typeof description !== 'string' || description.length > 256)) {
    bad('spec.description', 'must be a string of at most 256 characters');
  }
  const ttl = spec.ttlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 1 || (ttl as number) > MAX_TTL_SECONDS)) {
    bad('spec.ttlSeconds', `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
  }
  if (role === 'bootstrap' && ttl === undefined) {
    bad('spec.ttlSeconds', 'a bootstrap token must expire', 'FieldValueRequired');
  }
  if (causes.length > 0) throw new InvalidError(TOKEN_KIND, typeof name === 'string' ? name : '', causes);
  const out: IssueOptions = { role: role as Role };
  if (typeof name === 'string') out.name = name;
  if (Array.isArray(namespaces)) out.namespaces = namespaces as string[];
  if (typeof nodeName === 'string') out.nodeName = nodeName;
  if (typeof maxUses === 'number') out.maxUses = maxUses;
  if (typeof description === 'string') out.description = description;
  if (typeof ttl === 'number') out.ttlSeconds = ttl;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
