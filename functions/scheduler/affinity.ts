/**
 * Node affinity, inter-pod affinity and anti-affinity, and topology spread constraints, as
 * kube-scheduler's NodeAffinity, InterPodAffinity and PodTopologySpread plugins decide them:
 * required terms filter nodes (with the plugins' own reasons, so FailedScheduling reads the same),
 * preferred terms and ScheduleAnyway constraints score them.
 *
 * `Placement` knows where every live pod is, pods placed earlier in this pass included, so three
 * replicas with anti-affinity on `kubernetes.io/hostname` land on three nodes in one pass. A pod
 * with none of these fields, in a cluster where no pod has required anti-affinity, costs one
 * branch: the scheduler bench's pods take that path.
 */
import type {
  Node,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  Pod,
  PodAffinityTerm,
  TopologySpreadConstraint,
} from '../../schemas';
import { compileSelectorObject, type LabelSelectorMatch } from '../store/selector';
import type { NodeInfo } from './snapshot';
import { tolerates } from './tolerations';

export const REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules";
export const REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";
export const REASON_SPREAD = "node(s) didn't match pod topology spread constraints";
export const REASON_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";

// --- node affinity -------------------------------------------------------------------------

function requirementHolds(r: NodeSelectorRequirement, value: string | undefined): boolean {
  switch (r.operator) {
    case 'In':
      return value !== undefined && (r.values ?? []).includes(value);
    case 'NotIn':
      return value === undefined || !(r.values ?? []).includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Kubernetes: one integer value; a label that is not an integer never matches.
      const bound = Number.parseInt(r.values?.[0] ?? '', 10);
      const v = value === undefined ? Number.NaN : Number.parseInt(value, 10);
      if (!Number.isFinite(bound) || !Number.isFinite(v) || String(v) !== value) return false;
      return r.operator === 'Gt' ? v > bound : v < bound;
    }
  }
}

/** One NodeSelectorTerm: all its requirements hold. An empty term matches no node, as in Kubernetes. */
export function nodeMatchesTerm(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs)
    if (!requirementHolds(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined)) return false;
  for (const r of fields)
    if (!requirementHolds(r, r.key === 'metadata.name' ? node.metadata.name : undefined)) return false;
  return true;
}

/** The pod's nodeSelector and required node affinity (terms ORed) both hold on `node`. */
export function nodeAffinityHolds(pod: Pod, node: Node): boolean {
  const selector = pod.spec.nodeSelector;
  if (selector) {
    const labels = node.metadata.labels ?? {};
    for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  }
  const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return !terms || terms.some((t) => nodeMatchesTerm(t, node));
}

// --- where pods are --------------------------------------------------------------------------

interface Placed {
  labels: Record<string, string>;
  namespace: string;
  node: NodeInfo;
}

interface AntiTerm {
  owner: Placed;
  term: PodAffinityTerm;
  matches: (pod: Pod) => boolean;
}

function termMatcher(
  term: PodAffinityTerm,
  ownNamespace: string,
): (labels: Record<string, string>, ns: string) => boolean {
  const namespaces = term.namespaces?.length ? new Set(term.namespaces) : new Set([ownNamespace]);
  // A term without a labelSelector selects no pods (Kubernetes: a nil selector matches nothing).
  const selector: LabelSelectorMatch = term.labelSelector ? compileSelectorObject(term.labelSelector) : () => false;
  return (labels, ns) => namespaces.has(ns) && selector(labels);
}

const nodeLabel = (n: NodeInfo, key: string) => n.node.metadata.labels?.[key];

export class Placement {
  private readonly placed: Placed[] = [];
  private readonly anti: AntiTerm[] = [];

  constructor(
    private readonly nodes: NodeInfo[],
    byName: Map<string, NodeInfo>,
    pods: Pod[],
  ) {
    for (const pod of pods) {
      const node = pod.spec.nodeName ? byName.get(pod.spec.nodeName) : undefined;
      if (!node || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      this.add(pod, node);
    }
  }

  /** Records `pod` on `node` (a bound pod, or one this pass just placed). */
  add(pod: Pod, node: NodeInfo): void {
    const entry: Placed = { labels: pod.metadata.labels ?? {}, namespace: pod.metadata.namespace ?? 'default', node };
    this.placed.push(entry);
    for (const term of pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const m = termMatcher(term, entry.namespace);
      this.anti.push({
        owner: entry,
        term,
        matches: (p) => m(p.metadata.labels ?? {}, p.metadata.namespace ?? 'default'),
      });
    }
  }

  /** The checks for one pod, or undefined when nothing here can affect it (the common case). */
  forPod(pod: Pod): PodPlacement | undefined {
    const a = pod.spec.affinity;
    const spread = pod.spec.topologySpreadConstraints ?? [];
    if (!a?.nodeAffinity && !a?.podAffinity && !a?.podAntiAffinity && spread.length === 0 && this.anti.length === 0)
      return undefined;
    return new PodPlacement(pod, this.placed, this.anti, this.nodes);
  }
}

// --- one pod's checks and scores -------------------------------------------------------------

/** topologyKey -> the values (domains) where matching pods are. */
type Domains = { key: string; values: Set<string> };

interface Spread {
  c: TopologySpreadConstraint;
  counts: Map<string, number>;
  min: number;
  self: number;
}

export class PodPlacement {
  private readonly affinity: Domains[] = [];
  private readonly antiAffinity: Domains[] = [];
  private readonly forbidden: { key: string; value: string }[] = [];
  private readonly spread: Spread[] = [];
  private readonly preferred: { key: string; weight: number; counts: Map<string, number> }[] = [];
  /** No pod matches the required affinity anywhere, and the pod matches its own terms: allowed. */
  private readonly firstOfGroup: boolean;

  constructor(
    private readonly pod: Pod,
    placed: Placed[],
    anti: AntiTerm[],
    nodes: NodeInfo[],
  ) {
    const ns = pod.metadata.namespace ?? 'default';
    const own = pod.metadata.labels ?? {};
    const domainsOf = (term: PodAffinityTerm): Domains => {
      const m = termMatcher(term, ns);
      const values = new Set<string>();
      for (const p of placed) {
        const v = nodeLabel(p.node, term.topologyKey);
        if (v !== undefined && m(p.labels, p.namespace)) values.add(v);
      }
      return { key: term.topologyKey, values };
    };
    const a = pod.spec.affinity;
    const required = a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    for (const term of required) this.affinity.push(domainsOf(term));
    this.firstOfGroup =
      required.length > 0 &&
      this.affinity.every((d) => d.values.size === 0) &&
      required.every((t) => termMatcher(t, ns)(own, ns));
    for (const term of a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
      this.antiAffinity.push(domainsOf(term));
    for (const t of anti) {
      if (!t.matches(pod)) continue;
      const value = nodeLabel(t.owner.node, t.term.topologyKey);
      if (value !== undefined) this.forbidden.push({ key: t.term.topologyKey, value });
    }
    const countsOf = (term: PodAffinityTerm) => {
      const m = termMatcher(term, ns);
      const counts = new Map<string, number>();
      for (const p of placed) {
        const v = nodeLabel(p.node, term.topologyKey);
        if (v !== undefined && m(p.labels, p.namespace)) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      return counts;
    };
    for (const w of a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      this.preferred.push({
        key: w.podAffinityTerm.topologyKey,
        weight: w.weight,
        counts: countsOf(w.podAffinityTerm),
      });
    for (const w of a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      this.preferred.push({
        key: w.podAffinityTerm.topologyKey,
        weight: -w.weight,
        counts: countsOf(w.podAffinityTerm),
      });
    for (const c of pod.spec.topologySpreadConstraints ?? [])
      this.spread.push(this.spreadOf(c, placed, nodes, ns, own));
  }

  /** PodTopologySpread: matching pods per domain over the nodes the pod could go to. */
  private spreadOf(
    c: TopologySpreadConstraint,
    placed: Placed[],
    nodes: NodeInfo[],
    ns: string,
    own: Record<string, string>,
  ): Spread {
    const selector = c.labelSelector ? compileSelectorObject(c.labelSelector) : () => false;
    const eligible = (n: NodeInfo) =>
      nodeLabel(n, c.topologyKey) !== undefined &&
      ((c.nodeAffinityPolicy ?? 'Honor') === 'Ignore' || nodeAffinityHolds(this.pod, n.node)) &&
      ((c.nodeTaintsPolicy ?? 'Ignore') === 'Ignore' ||
        n.taints.every((t) => (this.pod.spec.tolerations ?? []).some((tol) => tolerates(tol, t))));
    const counts = new Map<string, number>();
    for (const n of nodes) if (eligible(n)) counts.set(nodeLabel(n, c.topologyKey) as string, 0);
    for (const p of placed) {
      if (p.namespace !== ns || !selector(p.labels) || !eligible(p.node)) continue;
      const v = nodeLabel(p.node, c.topologyKey) as string;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    let min = counts.size ? Math.min(...counts.values()) : 0;
    if (c.minDomains !== undefined && counts.size < c.minDomains) min = 0;
    return { c, counts, min, self: selector(own) ? 1 : 0 };
  }

  /** Why `n` cannot take the pod under these rules, or undefined. */
  failure(n: NodeInfo): string | undefined {
    const terms =
      this.pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    if (terms && !terms.some((t) => nodeMatchesTerm(t, n.node))) return REASON_NODE_AFFINITY;
    for (const s of this.spread) {
      if (s.c.whenUnsatisfiable !== 'DoNotSchedule') continue;
      const v = nodeLabel(n, s.c.topologyKey);
      if (v === undefined) return REASON_SPREAD_LABEL;
      if ((s.counts.get(v) ?? 0) + s.self - s.min > s.c.maxSkew) return REASON_SPREAD;
    }
    if (!this.firstOfGroup) {
      for (const d of this.affinity) {
        const v = nodeLabel(n, d.key);
        if (v === undefined || !d.values.has(v)) return REASON_POD_AFFINITY;
      }
    }
    for (const d of this.antiAffinity) {
      const v = nodeLabel(n, d.key);
      if (v !== undefined && d.values.has(v)) return REASON_POD_ANTI_AFFINITY;
    }
    for (const f of this.forbidden) if (nodeLabel(n, f.key) === f.value) return REASON_EXISTING_ANTI_AFFINITY;
    return undefined;
  }

  /**
   * Higher is better: preferred node affinity weights, preferred pod (anti-)affinity weights times
   * the matching pods in the node's domain, minus the ScheduleAnyway skew the node would add.
   */
  score(n: NodeInfo): number {
    let s = 0;
    for (const p of this.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      if (nodeMatchesTerm(p.preference, n.node)) s += p.weight;
    for (const p of this.preferred) {
      const v = nodeLabel(n, p.key);
      if (v !== undefined) s += p.weight * (p.counts.get(v) ?? 0);
    }
    for (const sp of this.spread) {
      if (sp.c.whenUnsatisfiable !== 'ScheduleAnyway') continue;
      const v = nodeLabel(n, sp.c.topologyKey);
      s -= v === undefined ? 100 : (sp.counts.get(v) ?? 0) - sp.min;
    }
    return s;
  }
}
