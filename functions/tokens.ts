/**
 * API tokens at rest: issue, verify, consume (bootstrap uses) and the first admin token. Shared by
 * the API (`api/auth.ts`, the token routes, node registration) and the controllers (the nodepool
 * controller issues each machine's bootstrap token), so it lives beside them, not inside `api/`.
 *
 * A token reads `ferry_<name>_<secret>`: `<name>` is the token record's name (a DNS-1123 name, so
 * it never contains `_`) and `<secret>` is 32 random bytes in base64url. The store keeps a record of
 * kind `Token` (an internal kind: never served by the generic resource routes) holding only
 * sha256(secret). A 256-bit random secret cannot be guessed or brute-forced from its hash, so a slow
 * password KDF (scrypt, argon2) would add latency to every request and no security; hashes are
 * compared with timingSafeEqual. Revoking deletes the record, so the next request gets 401.
 *
 * Bootstrap tokens are single-use unless issued with `maxUses` (a fleet): each registration counts
 * one use with a conditional write, so two agents racing on the last use cannot both register.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isoTime } from '../schemas/time';
import type { Deps } from './deps';
import { AlreadyExistsError, ForbiddenError, isConflict } from './errors';
import { retryOnConflict } from './store/retry';
import type { Obj } from './store/types';

export const TOKEN_KIND = 'Token';
export const TOKEN_API_VERSION = 'ferry.dev/v1';
/** The roles a caller may issue through the token API. */
export const ROLES = ['admin', 'deployer', 'reader', 'bootstrap', 'node'] as const;
/**
 * `serviceaccount`: a pod's token, issued only to the agent of the pod's node
 * (functions/pod-tokens.ts), governed by RBAC instead of a ferry role.
 */
export type Role = (typeof ROLES)[number] | 'serviceaccount';
/** A fleet token may register at most this many nodes. */
export const MAX_BOOTSTRAP_USES = 10_000;

const PREFIX = 'ferry_';
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface TokenSpec {
  role: Role;
  /** deployer: the namespaces it may write. */
  namespaces?: string[];
  /** node: the node it acts for; bootstrap: the only node name it may register. */
  nodeName?: string;
  /** bootstrap: how many nodes it may register (default 1). */
  maxUses?: number;
  /**
   * bootstrap: labels the registered Node gets from whoever issued the token (its NodePool); the
   * agent may not claim other values for them.
   */
  nodeLabels?: Record<string, string>;
  /**
   * bootstrap: what the issuer's cloud says the machine is (cpu cores, memory bytes); the node it
   * registers may not claim more (api/node-identity.ts). Absent: only the general bounds apply.
   */
  expectedCapacity?: ExpectedCapacity;
  description?: string;
  /** serviceaccount: the pod the token is bound to; it stops working when the pod or its ServiceAccount goes. */
  boundPod?: BoundPod;
  /**
   * serviceaccount, not bound to a pod (the TokenRequest API): its ServiceAccount, and the Secret
   * it may be bound to; it stops working when either goes or is recreated.
   */
  boundServiceAccount?: BoundServiceAccount;
  /**
   * serviceaccount: who the token is for (Kubernetes' `aud`). The API accepts it only when one of
   * them is one of API_AUDIENCES; absent means the API's own (tokens issued before audiences).
   */
  audiences?: string[];
}

/**
 * The audiences the ferry API accepts, as Kubernetes' `--api-audiences` (which defaults to the
 * issuer, `https://kubernetes.default.svc.cluster.local` in kubeadm): the first is what a token
 * asked for without an audience gets.
 */
export const API_AUDIENCES = ['https://kubernetes.default.svc.cluster.local', 'https://kubernetes.default.svc'];

export interface BoundServiceAccount {
  namespace: string;
  name: string;
  uid: string;
  secret?: { name: string; uid: string };
}

export interface ExpectedCapacity {
  cpu: number;
  memory: number;
}

export interface BoundPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccountName: string;
  serviceAccountUid: string;
}

/** The stored record. `secretHash` never leaves the API's views. */
export interface TokenRecord extends Obj {
  spec: TokenSpec;
  status: { expirationTimestamp?: string; uses?: number };
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
  if (options.role === 'bootstrap') {
    spec.maxUses = options.maxUses ?? 1;
    if (options.nodeLabels && Object.keys(options.nodeLabels).length > 0) spec.nodeLabels = { ...options.nodeLabels };
    if (options.expectedCapacity) spec.expectedCapacity = { ...options.expectedCapacity };
  }
  if (options.description) spec.description = options.description;
  if (options.boundPod) spec.boundPod = { ...options.boundPod };
  if (options.boundServiceAccount) spec.boundServiceAccount = structuredClone(options.boundServiceAccount);
  if (options.audiences) spec.audiences = [...options.audiences];
  const status: TokenRecord['status'] = {};
  if (options.ttlSeconds !== undefined) {
    status.expirationTimestamp = isoTime(deps.clock() + options.ttlSeconds * 1000);
  }
  if (options.role === 'bootstrap') status.uses = 0;
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

/**
 * The record a presented token belongs to, or undefined when it is malformed, unknown, revoked,
 * expired, or a bootstrap token whose uses are spent (unless `spent`: registration asks, since a
 * spent token may still finish the registration that spent it: api/register.ts).
 */
export async function verifyToken(
  deps: Deps,
  token: string,
  options: { spent?: boolean } = {},
): Promise<TokenRecord | undefined> {
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
  if (usesLeft(record) <= 0 && !options.spent) return undefined;
  return record;
}

/** Registrations a bootstrap token may still make (Infinity for other roles). */
export function usesLeft(record: TokenRecord): number {
  if (record.spec.role !== 'bootstrap') return Number.POSITIVE_INFINITY;
  return (record.spec.maxUses ?? 1) - (record.status?.uses ?? 0);
}

/**
 * Counts one use of a bootstrap token, conditionally on the record as read, so concurrent
 * registrations cannot spend the same last use twice. Throws ForbiddenError when none is left
 * (or the token was revoked meanwhile).
 */
export async function consumeBootstrapUse(deps: Deps, name: string): Promise<void> {
  try {
    await retryOnConflict(async (current) => {
      const record =
        (current as TokenRecord | undefined) ?? (await deps.store.get<TokenRecord>({ kind: TOKEN_KIND, name }));
      if (!record || usesLeft(record) <= 0) {
        throw new ForbiddenError(
          `bootstrap token "${name}" has no registrations left (it is single-use unless created with --max-uses)`,
        );
      }
      await deps.store.update({ ...record, status: { ...record.status, uses: (record.status?.uses ?? 0) + 1 } });
    }, 10);
  } catch (err) {
    if (!isConflict(err)) throw err;
    throw new ForbiddenError(`bootstrap token "${name}": too many concurrent registrations, try again`);
  }
}

export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
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
