/**
 * The volume filter (kube-scheduler's VolumeBinding and VolumeRestrictions plugins, with their
 * reason texts): a pod whose claim is missing or being deleted cannot be placed at all; a claim
 * bound to a node-local PV pins the pod to that node; an unbound WaitForFirstConsumer claim needs
 * a node where a matching PV lies or where its class's provisioner can make one; a
 * ReadWriteOncePod claim serves one pod. Once a node is chosen, `reserve` writes what the volume
 * controller completes: the chosen static PV's claimRef, or the claim's selected-node annotation
 * for the local provisioner, so the claim is provisioned on the node that first runs its pod.
 * Built only when a pending pod has claims: a pass without them reads no storage kinds.
 */
import {
  type Node,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  SELECTED_NODE_ANNOTATION,
  type StorageClass,
} from '../../schemas';
import type { Deps } from '../deps';
import { bestVolume, defaultClass, locallyProvisionable, volumeOnNode } from './volume-match';

export const REASON_VOLUME_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const REASON_NO_VOLUME_TO_BIND = "node(s) didn't find available persistent volumes to bind";
export const REASON_UNBOUND_IMMEDIATE = 'pod has unbound immediate PersistentVolumeClaims';
export const REASON_RWOP_IN_USE =
  'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode';

export function claimNames(pod: Pod): string[] {
  return (pod.spec.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
}

interface ClaimCheck {
  claim: PersistentVolumeClaim;
  /** A bound claim's PV, or a WaitForFirstConsumer claim's: decided per node. */
  bound?: PersistentVolume;
  selectedNode?: string;
  cls?: StorageClass;
}

/** What one pod's claims ask of a node. */
export interface PodVolumes {
  /** A reason no node can help (the claim is missing...), or undefined. */
  unresolvable?: string;
  failure(node: Node): string | undefined;
  reserve(deps: Deps, node: Node): Promise<void>;
}

export class VolumeBinder {
  private readonly claims: Map<string, PersistentVolumeClaim>;
  private readonly pvs: Map<string, PersistentVolume>;
  private readonly classes: Map<string, StorageClass>;
  private readonly defaultName: string | undefined;
  /** Claim key -> uids of live pods using it (ReadWriteOncePod). */
  private readonly users = new Map<string, Set<string>>();
  /** PVs promised during this pass. */
  private readonly taken = new Set<string>();

  constructor(claims: PersistentVolumeClaim[], pvs: PersistentVolume[], classes: StorageClass[], pods: Pod[]) {
    this.claims = new Map(claims.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
    this.pvs = new Map(pvs.map((p) => [p.metadata.name, p]));
    this.classes = new Map(classes.map((c) => [c.metadata.name, c]));
    this.defaultName = defaultClass(classes)?.metadata.name;
    for (const p of pods) {
      if (!p.spec.nodeName || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      for (const n of claimNames(p)) {
        const key = `${p.metadata.namespace}/${n}`;
        const set = this.users.get(key) ?? new Set<string>();
        set.add(p.metadata.uid as string);
        this.users.set(key, set);
      }
    }
  }

  forPod(pod: Pod): PodVolumes | undefined {
    const names = claimNames(pod);
    if (names.length === 0) return undefined;
    const checks: ClaimCheck[] = [];
    for (const name of names) {
      const key = `${pod.metadata.namespace}/${name}`;
      const claim = this.claims.get(key);
      if (!claim) return unresolvable(`persistentvolumeclaim "${name}" not found`);
      if (claim.metadata.deletionTimestamp) return unresolvable(`persistentvolumeclaim "${name}" is being deleted`);
      if (claim.spec.accessModes?.includes('ReadWriteOncePod')) {
        const others = [...(this.users.get(key) ?? [])].filter((u) => u !== pod.metadata.uid);
        if (others.length > 0) return unresolvable(REASON_RWOP_IN_USE);
      }
      const className = claim.spec.storageClassName ?? this.defaultName ?? '';
      const cls = this.classes.get(className);
      if (claim.spec.volumeName) {
        const pv = this.pvs.get(claim.spec.volumeName);
        // Bound on paper but the PV is gone (Lost), or the volume controller has not completed it yet.
        if (!pv)
          return unresolvable(
            `persistentvolumeclaim "${name}" bound to non-existent persistentvolume "${claim.spec.volumeName}"`,
          );
        checks.push({ claim, bound: pv });
        continue;
      }
      if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') return unresolvable(REASON_UNBOUND_IMMEDIATE);
      const selectedNode = claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
      checks.push({
        claim: { ...claim, spec: { ...claim.spec, storageClassName: className } },
        cls,
        ...(selectedNode ? { selectedNode } : {}),
      });
    }
    return {
      failure: (node) => this.failure(checks, node),
      reserve: (deps, node) => this.reserve(deps, checks, node),
    };
  }

  private candidate(c: ClaimCheck, node: Node): PersistentVolume | undefined {
    return bestVolume(
      [...this.pvs.values()],
      c.claim,
      (pv) => !this.taken.has(pv.metadata.name) && volumeOnNode(pv, node),
    );
  }

  private failure(checks: ClaimCheck[], node: Node): string | undefined {
    for (const c of checks) {
      if (c.bound) {
        if (!volumeOnNode(c.bound, node)) return REASON_VOLUME_NODE_CONFLICT;
        continue;
      }
      if (c.selectedNode && c.selectedNode !== node.metadata.name) return REASON_VOLUME_NODE_CONFLICT;
      if (!this.candidate(c, node) && !locallyProvisionable(c.claim, c.cls)) return REASON_NO_VOLUME_TO_BIND;
    }
    return undefined;
  }

  private async reserve(deps: Deps, checks: ClaimCheck[], node: Node): Promise<void> {
    for (const c of checks) {
      if (c.bound || c.selectedNode) continue;
      const pv = this.candidate(c, node);
      const stored = this.claims.get(`${c.claim.metadata.namespace}/${c.claim.metadata.name}`) as PersistentVolumeClaim;
      if (pv) {
        this.taken.add(pv.metadata.name);
        if (pv.spec.claimRef?.uid === stored.metadata.uid) continue;
        const claimRef = {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: stored.metadata.namespace as string,
          name: stored.metadata.name,
          uid: stored.metadata.uid as string,
        };
        this.pvs.set(pv.metadata.name, await deps.store.update({ ...pv, spec: { ...pv.spec, claimRef } }));
        continue;
      }
      const annotations = { ...stored.metadata.annotations, [SELECTED_NODE_ANNOTATION]: node.metadata.name };
      const written = await deps.store.update({ ...stored, metadata: { ...stored.metadata, annotations } });
      this.claims.set(`${stored.metadata.namespace}/${stored.metadata.name}`, written);
    }
  }
}

function unresolvable(reason: string): PodVolumes {
  return { unresolvable: reason, failure: () => reason, reserve: async () => undefined };
}
