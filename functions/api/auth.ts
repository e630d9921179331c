/**
 * Who is calling (authenticate: bearer token -> Principal, else 401) and what they may do
 * (authorize: Principal x Access -> nothing, else 403 naming the role and what it may do).
 *
 * Roles:
 * - admin: everything.
 * - deployer: read and write namespaced objects (Secrets included) in its listed namespaces;
 *   read Nodes and Namespaces; nothing else (no tokens, no all-namespace lists).
 * - reader: read everything except Secrets; no writes.
 * - bootstrap: only `POST /agent/v1/register` (register.ts: new nodes only, uses counted); always expires.
 * - node: its own Node and its Lease, the pods bound to it (read, and write their status),
 *   `/agent/v1/sync`, `/agent/v1/token` (its pods' tokens), and re-registering itself; like
 *   Kubernetes' NodeRestriction admission.
 * - serviceaccount: a pod's token (../pod-tokens.ts): what RBAC grants its ServiceAccount
 *   (rbac.ts; the rules are read at authentication, rbac-rules.ts), plus discovery, which
 *   Kubernetes grants every authenticated user (system:discovery). Never tokens or /agent/v1.
 *   `authorizeObject` is the hook that checks the object itself once it is known (a pod's
 *   spec.nodeName); node-identity.ts limits what a node may change in its Node and Lease.
 * Tokens and Authorization headers are never logged.
 */
import { hash } from 'node:crypto';
import { kindInfo } from '../../schemas/kinds';
import type { Deps } from '../deps';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { podTokenProblem } from '../pod-tokens';
import type { Obj } from '../store/types';
import { type Role, type TokenRecord, usesLeft, verifyToken } from '../tokens';
import { nonResourceAllows, rbacAllows, type ScopedRule } from './rbac';
import { rulesFor, serviceAccountUser } from './rbac-rules';

export { ensureAdminToken } from '../tokens';

export interface Principal {
  /** The token's name (never the token). */
  name: string;
  role: Role;
  /** deployer: the namespaces it may write. */
  namespaces: string[];
  /** node: the node it acts for. */
  nodeName?: string;
  /** bootstrap, authenticated for registration only: its uses are spent (it may only finish the registration that spent it). */
  spent?: boolean;
  /** serviceaccount: who it is, and the rules its bindings give it (read at authentication). */
  serviceAccount?: { namespace: string; name: string };
  rules?: ScopedRule[];
}

export type Verb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete';

export type Access =
  | {
      verb: Verb;
      kind: string;
      namespaced: boolean;
      /** Undefined for cluster-scoped kinds and for lists across all namespaces. */
      namespace?: string;
      name?: string;
      subresource?: string;
      /** list: the `spec.nodeName=` a field selector pins (node tokens may list only their pods). */
      nodeName?: string;
      /** list with `?watch=true`: RBAC's `watch` verb. */
      watch?: boolean;
    }
  | {
      path:
        | 'discovery'
        | 'metrics'
        | 'tokens'
        | 'agent/register'
        | 'agent/sync'
        | 'agent/logs'
        | 'agent/token'
        | 'agent/wake';
    };

export const UNAUTHORIZED = 'Unauthorized: the token is invalid, expired or revoked';

/** Where node heartbeats (Leases) live, as in Kubernetes. */
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const READ_VERBS: readonly Verb[] = ['get', 'list'];
const DEPLOYER_CLUSTER_READS = new Set(['Node', 'Namespace']);

/**
 * The principal a request's bearer token names. `registering` (the register route only): a
 * bootstrap token whose uses are spent still authenticates, marked `spent`, and never through
 * the cache, so it can do nothing but finish its own registration (api/register.ts).
 */
export async function authenticate(
  deps: Deps,
  headers: Record<string, string>,
  options: { cache?: TokenCache; registering?: boolean } = {},
): Promise<Principal> {
  const registering = options.registering === true;
  const cache = registering ? undefined : options.cache;
  const header = headers.authorization;
  if (!header) throw new UnauthorizedError('Unauthorized: no bearer token (send "Authorization: Bearer <token>")');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new UnauthorizedError('Unauthorized: the Authorization header is not "Bearer <token>"');
  const token = match[1] as string;
  const key = cache ? hash('sha256', token, 'hex') : '';
  const cached = cache?.get(key, deps.clock());
  if (cached) return cached;
  const record = await verifyToken(deps, token, { spent: registering });
  if (!record) throw new UnauthorizedError(UNAUTHORIZED);
  const principal = principalOf(record);
  if (usesLeft(record) <= 0) principal.spent = true;
  if (record.spec.role === 'serviceaccount') {
    const problem = await podTokenProblem(deps, record);
    if (problem) throw new UnauthorizedError(`Unauthorized: the token is invalid, expired or revoked (${problem})`);
    principal.rules = await rulesFor(deps, principal.serviceAccount as { namespace: string; name: string });
  }
  cache?.set(key, principal, record, deps.clock());
  return principal;
}

/**
 * Tokens verified in the last second (the runtime may say longer: ApiConfig.tokenCacheTtlMs). A client (a CI job, an agent) sends the same token on every
 * request, and verifying it costs a store read. Keyed by the token's SHA-256, never the token. A
 * change to a token record made through this process's store drops that token's entry at once,
 * and a change to RBAC or a pod's deletion drops every service-account entry (the handler
 * subscribes to the store's watch: `forgetToken`, `forgetServiceAccounts`); one made by another
 * process sharing the SQLite file, or by another Lambda instance, takes effect within TTL_MS.
 * Room for every node of a 5,000-node cluster and its pods' tokens: with 1,024 entries, evicted
 * oldest first, and every Pod deletion clearing them all, a node's token was never found.
 */
export class TokenCache {
  static readonly TTL_MS = 1_000;
  static readonly MAX_ENTRIES = 16_384;
  private readonly entries = new Map<string, { principal: Principal; until: number }>();
  /** The keys cached under each token record's name (a name has one token, but may be cached under an older one). */
  private readonly byName = new Map<string, Set<string>>();
  private readonly serviceAccounts = new Set<string>();

  constructor(private readonly ttlMs = TokenCache.TTL_MS) {}

  get(key: string, now: number): Principal | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.until > now) return hit.principal;
    this.drop(key);
    return undefined;
  }

  set(key: string, principal: Principal, record: TokenRecord, now: number): void {
    const expires = record.status?.expirationTimestamp;
    const until = Math.min(now + this.ttlMs, expires === undefined ? Number.POSITIVE_INFINITY : Date.parse(expires));
    this.drop(key);
    if (this.entries.size >= TokenCache.MAX_ENTRIES) this.drop(this.entries.keys().next().value as string);
    this.entries.set(key, { principal, until });
    const keys = this.byName.get(principal.name) ?? new Set<string>();
    keys.add(key);
    this.byName.set(principal.name, keys);
    if (principal.role === 'serviceaccount') this.serviceAccounts.add(key);
  }

  /** A token record was written or deleted: its principal is read again. */
  forgetToken(name: string): void {
    for (const key of [...(this.byName.get(name) ?? [])]) this.drop(key);
  }

  /** RBAC, a ServiceAccount or a pod changed: every service-account principal is read again. */
  forgetServiceAccounts(): void {
    for (const key of [...this.serviceAccounts]) this.drop(key);
  }

  clear(): void {
    this.entries.clear();
    this.byName.clear();
    this.serviceAccounts.clear();
  }

  size(): number {
    return this.entries.size;
  }

  private drop(key: string): void {
    const hit = this.entries.get(key);
    if (!hit) return;
    this.entries.delete(key);
    this.serviceAccounts.delete(key);
    const keys = this.byName.get(hit.principal.name);
    keys?.delete(key);
    if (keys?.size === 0) this.byName.delete(hit.principal.name);
  }
}

export function principalOf(record: TokenRecord): Principal {
  const p: Principal = { name: record.metadata.name, role: record.spec.role, namespaces: record.spec.namespaces ?? [] };
  if (record.spec.nodeName) p.nodeName = record.spec.nodeName;
  const bound = record.spec.boundPod;
  if (record.spec.role === 'serviceaccount' && bound)
    p.serviceAccount = { namespace: bound.namespace, name: bound.serviceAccountName };
  const account = record.spec.boundServiceAccount;
  if (record.spec.role === 'serviceaccount' && account)
    p.serviceAccount = { namespace: account.namespace, name: account.name };
  return p;
}

/** Throws ForbiddenError unless `principal` may perform `access`. */
export function authorize(principal: Principal, access: Access): void {
  if (!allowed(principal, access)) throw new ForbiddenError(`${deniedWhat(principal, access)}: ${mayDo(principal)}`);
}

/**
 * The second check, once the object is known: a node may touch only pods bound to it. Every
 * handler that reads or writes a single object calls this; for other roles it allows everything
 * `authorize` already allowed.
 */
export function authorizeObject(principal: Principal, verb: Verb, obj: Obj): void {
  if (principal.role !== 'node' || obj.kind !== 'Pod') return;
  const nodeName = (obj.spec as { nodeName?: unknown } | undefined)?.nodeName;
  if (nodeName !== principal.nodeName) {
    throw new ForbiddenError(
      `node "${principal.nodeName}" may not ${verb} pod ${obj.metadata.namespace}/${obj.metadata.name}: it is not bound to this node`,
    );
  }
}

function allowed(p: Principal, a: Access): boolean {
  if (p.role === 'admin') return true;
  if ('path' in a) {
    switch (p.role) {
      case 'bootstrap':
        return a.path === 'agent/register';
      case 'node':
        // register: its current credential re-registers its own node (register.ts checks the name).
        return (
          a.path === 'agent/sync' ||
          a.path === 'agent/wake' ||
          a.path === 'agent/logs' ||
          a.path === 'agent/token' ||
          a.path === 'agent/register' ||
          a.path === 'discovery'
        );
      case 'reader':
        // Counts and latencies, no object content: what a reader sees anyway, summed.
        return a.path === 'discovery' || a.path === 'metrics';
      case 'serviceaccount':
        // As Kubernetes: a ClusterRole rule `nonResourceURLs: ["/metrics"], verbs: ["get"]` (a Prometheus in a pod).
        return a.path === 'discovery' || (a.path === 'metrics' && nonResourceAllows(p.rules ?? [], 'get', '/metrics'));
      case 'deployer':
        return a.path === 'discovery';
    }
  }
  const read = READ_VERBS.includes(a.verb);
  switch (p.role) {
    case 'reader':
      return read && a.kind !== 'Secret';
    case 'deployer':
      if (!a.namespaced) return read && DEPLOYER_CLUSTER_READS.has(a.kind);
      return a.namespace !== undefined && p.namespaces.includes(a.namespace);
    case 'node':
      return nodeAllowed(p, a);
    case 'serviceaccount':
      return serviceAccountAllowed(p, a);
    case 'bootstrap':
      return false;
  }
  return false;
}

function serviceAccountAllowed(p: Principal, a: Exclude<Access, { path: string }>): boolean {
  const info = kindInfo(a.kind);
  if (!info) return false;
  const verb = a.verb === 'list' && a.watch ? 'watch' : a.verb;
  return rbacAllows(p.rules ?? [], {
    verb,
    apiGroup: info.group,
    resource: a.subresource ? `${info.plural}/${a.subresource}` : info.plural,
    namespaced: a.namespaced,
    ...(a.name !== undefined ? { name: a.name } : {}),
    ...(a.namespace !== undefined ? { namespace: a.namespace } : {}),
  });
}

function nodeAllowed(p: Principal, a: Exclude<Access, { path: string }>): boolean {
  const own = a.name === p.nodeName;
  switch (a.kind) {
    case 'Node':
      return own && a.verb !== 'create' && a.verb !== 'delete';
    case 'Lease':
      return a.namespace === NODE_LEASE_NAMESPACE && (own || (a.verb === 'create' && a.name === undefined));
    case 'Pod':
      if (a.subresource === 'log') return false; // the agent has them; a node credential reads none
      if (a.verb === 'list') return a.nodeName === p.nodeName;
      if (a.verb === 'get') return a.name !== undefined;
      return (a.verb === 'update' || a.verb === 'patch') && a.subresource === 'status';
    default:
      return false;
  }
}

function deniedWhat(p: Principal, a: Access): string {
  if (p.role === 'serviceaccount' && 'path' in a && a.path === 'metrics')
    return `forbidden: User "${serviceAccountUser(p.serviceAccount ?? { namespace: '', name: '' })}" cannot get path "/metrics"`;
  if (p.role === 'serviceaccount' && !('path' in a)) return serviceAccountDenied(p, a);
  const who = `token "${p.name}" (role ${p.role})`;
  if ('path' in a)
    return `${who} may not use ${a.path === 'tokens' ? 'the token API' : `/${a.path.replace('agent/', 'agent/v1/')}`}`;
  const what = `${a.kind.toLowerCase()}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` "${a.name}"` : 's'}`;
  const where = a.namespaced ? (a.namespace ? ` in namespace "${a.namespace}"` : ' across all namespaces') : '';
  return `${who} may not ${a.verb} ${what}${where}`;
}

/** Kubernetes' RBAC denial, which in-cluster clients show as it is. */
function serviceAccountDenied(p: Principal, a: Exclude<Access, { path: string }>): string {
  const info = kindInfo(a.kind);
  const resource = `${info?.plural ?? a.kind.toLowerCase()}${a.subresource ? `/${a.subresource}` : ''}`;
  const what = `${resource}${a.name ? ` "${a.name}"` : ''}`;
  const user = serviceAccountUser(p.serviceAccount ?? { namespace: '', name: '' });
  const verb = a.verb === 'list' && a.watch ? 'watch' : a.verb;
  const where =
    a.namespace !== undefined ? ` in the namespace "${a.namespace}"` : a.namespaced ? ' at the cluster scope' : '';
  return `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${info?.group ?? ''}"${where}`;
}

/** One sentence per role, shown in every 403 so the caller knows what the token is for. */
export function mayDo(p: Principal): string {
  switch (p.role) {
    case 'admin':
      return 'an admin may do everything';
    case 'deployer':
      return `a deployer may read and write namespaced objects (Secrets included) in namespaces ${p.namespaces.join(', ')}, and read nodes and namespaces`;
    case 'reader':
      return 'a reader may read every object except Secrets, and write nothing';
    case 'bootstrap':
      return 'a bootstrap token may only register a node (POST /agent/v1/register)';
    case 'node':
      return `a node token may only read and update node "${p.nodeName}", its lease, and the pods bound to it`;
    case 'serviceaccount':
      return `a pod's ServiceAccount token may do what Roles and ClusterRoles bound to ${serviceAccountUser(p.serviceAccount ?? { namespace: '', name: '' })} grant`;
  }
}
