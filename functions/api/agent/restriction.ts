/**
 * Node restriction, like Kubernetes' NodeRestriction admission: a node reports status only for
 * pods bound to it (and its own Node), and every status it reports is validated like any status
 * write, as part of its whole object. All of it is checked before anything is written, so a
 * rejected sync changes nothing. Only the objects the request names are read.
 */
import type { SyncRequest } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { ForbiddenError } from '../../errors';
import type { Obj } from '../../store/types';
import { validateOnly } from '../admission';
import { checkClaim, machineSizeOf } from '../node-identity';

export interface CheckedReports {
  /** The node, when the request carries its status. */
  node?: Obj;
  /** Pods the request reports on that are bound to this node, by uid. */
  pods: Map<string, Obj>;
}

export async function checkReports(deps: Deps, nodeName: string, req: SyncRequest): Promise<CheckedReports> {
  const out: CheckedReports = { pods: new Map() };
  if (req.nodeStatus) {
    // Consistent: the base of the status write that follows.
    const node = await deps.store.get({ kind: 'Node', name: nodeName });
    // A node may not claim capacity beyond the bounds (node-identity.ts: 1024 CPUs, 16 TiB, 110
    // pods), nor beyond its machine's when the Node records what its cloud says the machine is.
    checkClaim('Node', nodeName, req.nodeStatus, machineSizeOf(node), 'nodeStatus');
    if (node) {
      validateOnly({ ...node, status: req.nodeStatus });
      out.node = node;
    }
  }
  const refs = [...(req.podStatuses ?? []).map((s) => s.pod), ...(req.terminated ?? [])];
  for (const ref of refs) {
    if (out.pods.has(ref.uid)) continue;
    // Consistent: whether the pod is bound here decides what this node may write.
    const pod = await deps.store.get({ kind: 'Pod', namespace: ref.namespace, name: ref.name });
    // A pod that is gone (or replaced under the same name) is not a write to someone else's pod:
    // the agent learns from the answer that it is no longer bound here.
    if (!pod || pod.metadata.uid !== ref.uid) continue;
    if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== nodeName) {
      throw new ForbiddenError(
        `node "${nodeName}" may not modify pod ${ref.namespace}/${ref.name}: it is not bound to this node`,
      );
    }
    out.pods.set(ref.uid, pod);
  }
  for (const { pod: ref, status } of req.podStatuses ?? []) {
    const pod = out.pods.get(ref.uid);
    if (pod) validateOnly({ ...pod, status });
  }
  return out;
}
