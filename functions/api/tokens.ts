/**
 * API tokens: issue, verify, list, revoke.
 *
 * A token reads `ferry_<name>_<secret>`: `<name>` is the token record's name (a DNS-1123 name, so
 * it never contains `_`) and `<secret>` is 32 random bytes in base64url. The store keeps a record of
 * kind `Token` (an internal kind: never served by the generic resource routes) holding only
 * sha256(secret). A 256-bit random secret cannot be guessed or brute-forced from its hash, so a slow
 * password KDF (scrypt, argon2) would add latency to every request and no security; hashes are
 * compared with timingSafeEqual. Revoking deletes the record, so the next request gets 401.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Deps } from '../deps';
import { AlreadyExistsError, InvalidError, NotFoundError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';
import { FERRY_GROUP, FERRY_VERSION } from './router';

export const TOKEN_KIND = 'Token';
export const TOKEN_API_VERSION = `${FERRY_GROUP}/${FERRY_VERSION}`;
export const ROLES = ['admin', 'deployer', 'reader', 'bootstrap', 'node'] as const;
export type Role = (typeof ROLES)[number];

const PREFIX = 'ferry_';
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

export interface TokenSpec {
  role: Role;
  /** deployer: the namespaces it may write. */
  namespaces?: string[];
  /** node: the node it acts for. */
  nodeName?: string;
  description?: string;
}

/** The stored record. `secretHash` never leaves this module's views. */
export interface TokenRecord extends Obj {
  spec: TokenSpec;
  status: { expirationTimestamp?: string };
  secretHash: string;
}

export interface IssueOptions extends TokenSpec {
  name?: string;
  ttlSeconds?: number;
}

/** Creates a token record and returns it with the plaintext token (shown to the caller once). */
export async function issueToken(deps: Deps, options: IssueOptions): Promise<{ record: TokenRecord; token: string }> {
  const secret = randomBytes(32).toString('base64url');
  const name = options.name ?? `${options.role}-${randomBytes(4).toString('hex')}`;
  const spec: TokenSpec = { role: options.role };
  if (options.namespaces?.length) spec.namespaces = [...options.namespaces];
  if (options.nodeName) spec.nodeName = options.nodeName;
  if (options.description) spec.description = options.description;
  const status: TokenRecord['status'] = {};
  if (options.ttlSeconds !== undefined) {
    status.expirationTimestamp = isoSeconds(deps.clock() + options.ttlSeconds * 1000);
  }
  const record = await deps.store.create<TokenRecord>({
    apiVersion: TOKEN_API_VERSION,
    kind: TOKEN_KIND,
    metadata: { name },
    spec,
    status,
    secretHash: hashSecret(secret),
  });
  return { record, token: `${PREFIX}${name}_${secret}` };
}

/** The record a presented token belongs to, or undefined when it is malformed, unknown, revoked or expired. */
export async function verifyToken(deps: Deps, token: string): Promise<TokenRecord | undefined> {
  if (!token.startsWith(PREFIX)) return undefined;
  const rest = token.slice(PREFIX.length);
  const cut = rest.indexOf('_');
  if (cut <= 0) return undefined;
  const name = rest.slice(0, cut);
  const secret = rest.slice(cut + 1);
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253 || secret.length === 0) return undefined;
  const record = await deps.store.get<TokenRecord>({ kind: TOKEN_KIND, name });
  if (!record || typeof record.secretHash !== 'string') return undefined;
  const expected = Buffer.from(record.secretHash, 'hex');
  const actual = hash('sha256', secret, 'buffer');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  const expires = record.status?.expirationTimestamp;
  if (expires !== undefined && Date.parse(expires) <= deps.clock()) return undefined;
  return record;
}

export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

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
    if (!['role', 'namespaces', 'nodeName', 'description', 'ttlSeconds'].includes(key)) {
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
  if (role !== 'node' && nodeName !== undefined) bad('spec.nodeName', 'only node tokens name a node');
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
  if (typeof description === 'string') out.description = description;
  if (typeof ttl === 'number') out.ttlSeconds = ttl;
  return out;
}

/**
 * The first admin token, created only when the store holds no token at all (a fresh server).
 * Returns the plaintext for the runtime to write to the user's CLI config, else undefined.
 * Two servers starting on one empty store at once: the fixed name lets exactly one win.
 */
export async function ensureAdminToken(deps: Deps): Promise<string | undefined> {
  const { items } = await deps.store.list(TOKEN_KIND);
  if (items.length > 0) return undefined;
  try {
    const { token } = await issueToken(deps, { name: 'admin', role: 'admin', description: 'first admin token' });
    deps.log.info('created the first admin token', { name: 'admin' });
    return token;
  } catch (err) {
    if (err instanceof AlreadyExistsError) return undefined;
    throw err;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
