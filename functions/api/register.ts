/**
 * `POST /agent/v1/register`: a bootstrap token becomes a node credential. Who may register what:
 * - a bootstrap token registers one new node (single-use unless issued with maxUses; bound to a
 *   name when issued with one). It never takes over a Node that exists, whoever made it: an
 *   admin-created Node or another agent's is refused, so a leaked fleet token cannot revoke a
 *   running agent's credential and receive its pods and Secrets;
 * - the node's current credential re-registers its own node (a new credential replaces it);
 * - an admin may (re-)register any node.
 * The Node's labels come from the token's issuer (a NodePool) plus what the agent may set on itself
 * (node-identity.ts); spec and taints are never the agent's. Claimed capacity is bounded, and a
 * NodePool machine's (its bootstrap token carries what the cloud says the machine is) may not
 * exceed its machine's, now or later: the Node records the size in a server-owned annotation.
 */
import { createHash } from 'node:crypto';
import type { RegisterRequest, RegisterResponse } from '../../schemas/agent-protocol';
import { ForbiddenError, type StatusCause } from '../errors';
import { isObjectAt, retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import { consumeBootstrapUse, issueToken, TOKEN_KIND, type TokenRecord } from '../tokens';
import { admit, validateOnly } from './admission';
import type { Principal } from './auth';
import { checkClaim, type MachineSize, machineSizeAnnotation, machineSizeOf, nodeMaySetLabel } from './node-identity';
import type { ApiDeps } from './types';

/** Which credential registered a node (shown to admins; nodes may not change it). */
export const REGISTERED_BY = 'ferry.dev/registered-by';

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
    if (stored && principal.role === 'bootstrap') {
      throw new ForbiddenError(
        `node "${nodeName}" is already registered: a bootstrap token registers new nodes only; re-registering needs the node's current credential or an admin (or delete the Node first)`,
      );
    }
    // A re-registration is held to the machine size the Node recorded when it first registered.
    if (stored) checkClaim('Node', nodeName, status, machineSizeOf(stored));
    const node = stored ? restatus(stored, status) : fresh(nodeName, labels, principal, status, machine);
    if (stored && principal.role === 'admin' && Object.keys(labels).length > 0)
      node.metadata.labels = { ...stored.metadata.labels, ...labels };
    validateOnly(node);
    // The use is spent once everything about the request checked out, before the Node is written:
    // a racing second registration on a single-use token fails here rather than after writing.
    if (attempt === 1 && principal.role === 'bootstrap') await consumeBootstrapUse(deps, principal.name);
    return stored ? deps.store.update(node) : deps.store.create(node);
  });
  // One credential per node: registering again replaces (revokes) the previous one.
  const name = nodeTokenName(nodeName);
  await deps.store.delete({ kind: TOKEN_KIND, name }).catch(() => undefined);
  const { token } = await issueToken(deps, { name, role: 'node', nodeName, description: `node ${nodeName}` });
  deps.log.info('registered node', { node: nodeName, by: principal.role });
  return { nodeName, token };
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
): Obj {
  const node = admit({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName,
      annotations: { [REGISTERED_BY]: principal.name, ...(machine ? machineSizeAnnotation(machine) : {}) },
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
