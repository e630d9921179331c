/**
 * `POST /agent/v1/register`: a bootstrap token becomes a node credential. Who may register what:
 * - a bootstrap token registers one new node (single-use unless issued with maxUses; bound to a
 *   name when issued with one). It never takes over a Node that exists, whoever made it: an
 *   admin-created Node or another agent's is refused, so a leaked fleet token cannot revoke a
 *   running agent's credential and receive its pods and Secrets;
 * - the same registration tried again (its `registrationId`, from the same bootstrap token) before
 *   the node ever synced gets a new credential, replacing the one whose answer it lost, and spends
 *   no second use of the token; an agent whose first answer was lost is no longer locked out (at
 *   5,000 nodes registering at once, 2,300 were: the Node written, the answer past the agent's
 *   timeout, every retry refused);
 * - the node's current credential re-registers its own node (a new credential replaces it);
 * - an admin may (re-)register any node.
 * The Node's labels come from the token's issuer (a NodePool) plus what the agent may set on itself
 * (node-identity.ts); spec and taints are never the agent's. Claimed capacity is bounded, and a
 * NodePool machine's (its bootstrap token carries what the cloud says the machine is) may not
 * exceed its machine's, now or later: the Node records the size in a server-owned annotation.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RegisterRequest, RegisterResponse } from '../../schemas/agent-protocol';
import { ForbiddenError, type StatusCause, UnauthorizedError } from '../errors';
import { isObjectAt, retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import { consumeBootstrapUse, hashSecret, issueToken, TOKEN_KIND, type TokenRecord } from '../tokens';
import { admit, validateOnly } from './admission';
import { NODE_LEASE_NAMESPACE } from './agent/lease';
import { type Principal, UNAUTHORIZED } from './auth';
import { checkClaim, type MachineSize, machineSizeAnnotation, machineSizeOf, nodeMaySetLabel } from './node-identity';
import type { ApiDeps } from './types';

/** Which credential registered a node (shown to admins; nodes may not change it). */
export const REGISTERED_BY = 'ferry.dev/registered-by';
/** The SHA-256 of the registration's `registrationId` (never the id itself): a retry of it is told apart from a takeover. */
export const REGISTRATION_HASH = 'ferry.dev/registration';

export async function registerNode(
  deps: ApiDeps,
  principal: Principal,
  body: RegisterRequest,
): Promise<RegisterResponse> {
  const { nodeName, status } = body;
  checkCaller(principal, nodeName);
  const issuer = principal.role === 'bootstrap' ? await issuedSpec(deps, principal.name) : undefined;
  const labels = {
    ...wellKnownLabels(nodeName, body.status),
    ...registrationLabels(nodeName, body.labels ?? {}, { ...issuer?.nodeLabels }),
  };
  const machine = issuer?.expectedCapacity;
  checkClaim('Node', nodeName, status, machine);

  const ref = { kind: 'Node', name: nodeName };
  // Node writes carry the resourceVersion read here (an agent's status write may land between):
  // a lost race is rebased on the Node the conflict carries.
  await retryOnConflict(async (conflicted, attempt) => {
    const stored = isObjectAt(conflicted, ref) ? conflicted : await deps.store.get(ref);
    const retried = stored !== undefined && (await sameRegistration(deps, stored, principal, body.registrationId));
    // A spent bootstrap token may only finish the registration that spent it.
    if (principal.spent && !retried) throw new UnauthorizedError(UNAUTHORIZED);
    if (stored && principal.role === 'bootstrap' && !retried) {
      throw new ForbiddenError(
        `node "${nodeName}" is already registered: a bootstrap token registers new nodes only; re-registering needs the node's current credential or an admin (or delete the Node first)`,
      );
    }
    // A re-registration is held to the machine size the Node recorded when it first registered.
    if (stored) checkClaim('Node', nodeName, status, machineSizeOf(stored));
    const node = stored
      ? restatus(stored, status)
      : fresh(nodeName, labels, principal, status, machine, body.registrationId);
    if (stored && principal.role === 'admin' && Object.keys(labels).length > 0)
      node.metadata.labels = { ...stored.metadata.labels, ...labels };
    validateOnly(node);
    // The use is spent once everything about the request checked out, before the Node is written:
    // a racing second registration on a single-use token fails here rather than after writing.
    if (attempt === 1 && principal.role === 'bootstrap' && !stored) await consumeBootstrapUse(deps, principal.name);
    return stored ? deps.store.update(node) : deps.store.create(node);
  });
  // One credential per node: registering again replaces (revokes) the previous one.
  const name = nodeTokenName(nodeName);
  await deps.store.delete({ kind: TOKEN_KIND, name }).catch(() => undefined);
  const { token } = await issueToken(deps, { name, role: 'node', nodeName, description: `node ${nodeName}` });
  deps.log.info('registered node', { node: nodeName, by: principal.role });
  return { nodeName, token };
}

/**
 * Whether `stored` is this bootstrap registration's own Node, written by an earlier try whose
 * answer was lost: made by the same bootstrap token with the same registrationId, and never
 * synced (no node Lease yet), so no running agent's credential can be replaced this way.
 */
async function sameRegistration(
  deps: ApiDeps,
  stored: Obj,
  principal: Principal,
  registrationId: string | undefined,
): Promise<boolean> {
  if (principal.role !== 'bootstrap' || registrationId === undefined) return false;
  const annotations = stored.metadata.annotations ?? {};
  if (annotations[REGISTERED_BY] !== principal.name) return false;
  const recorded = annotations[REGISTRATION_HASH];
  if (recorded === undefined || !sameHash(recorded, hashSecret(registrationId))) return false;
  const lease = await deps.store.get({ kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: stored.metadata.name });
  return lease === undefined;
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function checkCaller(principal: Principal, nodeName: string): void {
  if (principal.role === 'node' && principal.nodeName !== nodeName) {
    throw new ForbiddenError(`node "${principal.nodeName}" may re-register only itself, not node "${nodeName}"`);
  }
  // A bootstrap token's nodeName binds it to that one name.
  if (principal.role === 'bootstrap' && principal.nodeName !== undefined && principal.nodeName !== nodeName) {
    throw new ForbiddenError(
      `bootstrap token "${principal.name}" may register only node "${principal.nodeName}", not "${nodeName}"`,
    );
  }
}

/** What the bootstrap token's issuer (a NodePool) set for the node: its labels and its machine's size. */
async function issuedSpec(deps: ApiDeps, tokenName: string): Promise<TokenRecord['spec'] | undefined> {
  return (await deps.store.get<TokenRecord>({ kind: TOKEN_KIND, name: tokenName }))?.spec;
}

/** Go's names for Node's architectures (`process.arch` -> GOARCH), as the kubelet reports them. */
const GOARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

/**
 * The labels the kubelet puts on its Node itself: `kubernetes.io/hostname`, `kubernetes.io/os` and
 * `kubernetes.io/arch`, so `nodeSelector: {kubernetes.io/os: linux}` (in most charts) matches.
 */
export function wellKnownLabels(nodeName: string, status: unknown): Record<string, string> {
  const info = (status as { nodeInfo?: { operatingSystem?: unknown; architecture?: unknown } } | undefined)?.nodeInfo;
  const os = typeof info?.operatingSystem === 'string' ? info.operatingSystem : 'linux';
  const arch = typeof info?.architecture === 'string' ? (GOARCH[info.architecture] ?? info.architecture) : undefined;
  return {
    'kubernetes.io/hostname': nodeName.slice(0, 63),
    ...(/^[a-z0-9]{1,63}$/.test(os) ? { 'kubernetes.io/os': os } : {}),
    ...(arch && /^[a-z0-9]{1,63}$/.test(arch) ? { 'kubernetes.io/arch': arch } : {}),
  };
}

/** The agent's labels, checked, under the labels the token's issuer assigned. */
function registrationLabels(
  nodeName: string,
  claimed: Record<string, string>,
  issued: Record<string, string>,
): Record<string, string> {
  const causes: StatusCause[] = [];
  for (const [key, value] of Object.entries(claimed)) {
    if (issued[key] === value) continue;
    if (issued[key] !== undefined || !nodeMaySetLabel(key)) {
      causes.push({
        field: `labels.${key}`,
        reason: 'FieldValueForbidden',
        message: `a node may not set this label on itself${issued[key] !== undefined ? ` (its pool sets ${JSON.stringify(issued[key])})` : ''}: labels under kubernetes.io, k8s.io, node-restriction.kubernetes.io and ferry.dev come from its pool or an admin`,
      });
    }
  }
  if (causes.length > 0) {
    throw new ForbiddenError(
      `node "${nodeName}" may not register with these labels: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`,
    );
  }
  return { ...claimed, ...issued };
}

function fresh(
  nodeName: string,
  labels: Record<string, string>,
  principal: Principal,
  status: unknown,
  machine: MachineSize | undefined,
  registrationId: string | undefined,
): Obj {
  const node = admit({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName,
      annotations: {
        [REGISTERED_BY]: principal.name,
        ...(registrationId !== undefined ? { [REGISTRATION_HASH]: hashSecret(registrationId) } : {}),
        ...(machine ? machineSizeAnnotation(machine) : {}),
      },
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
    },
    spec: {},
  });
  node.status = status;
  return node;
}

/** Re-registration refreshes status only: labels, taints and spec stay as the pool or an admin set them. */
function restatus(stored: Obj, status: unknown): Obj {
  const node = structuredClone(stored);
  node.status = status;
  return node;
}

function nodeTokenName(nodeName: string): string {
  const name = `node-${nodeName}`;
  return name.length <= 253 ? name : `node-${createHash('sha256').update(nodeName).digest('hex').slice(0, 32)}`;
}
