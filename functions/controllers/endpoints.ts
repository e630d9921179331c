/**
 * The endpoints controller: keeps one v1 Endpoints per Service with a selector, listing where each
 * matching pod can be reached from any node: its node's address and the host port its container
 * port is published on (pod IPs are node-local in ferry; DESIGN.md, Networking).
 *
 * - Ready pods on Ready nodes go under `addresses`; the rest under `notReadyAddresses`
 *   (all under `addresses` with `publishNotReadyAddresses`).
 * - A terminating pod (deletionTimestamp set) is left out at once; the agent delays its SIGTERM
 *   until the proxies have dropped it (agent/pods/manager.ts), so no request reaches a dying pod.
 * - `targetPort` is a container port number or the name of a container port; a pod that does not
 *   publish it (no `ports` entry for it in the pod spec) cannot be reached from other nodes and is
 *   left out, with a Warning Event on the Service.
 * - Subsets group pods whose ports are the same, as in Kubernetes; host ports differ per pod, so
 *   usually one subset per pod.
 *
 * Endpoints of a Service without a selector are the user's and are never touched; Endpoints this
 * controller made are deleted with their Service.
 *
 * Then it publishes what the nodes' proxies need of every Service (selector or not) as route
 * records (functions/service-routes.ts), from the Endpoints as this pass left them, so an agent's
 * sync never reads Services or Endpoints.
 */
import type { Node, Pod } from '../../schemas';
import type { RoutePod } from '../../schemas/agent-protocol';
import { isConditionTrue } from '../../schemas/conditions';
import type { EndpointSubset, Endpoints, Service } from '../../schemas/service';
import type { Deps } from '../deps';
import { isAlreadyExists, isConflict, isLostRace } from '../errors';
import { recordEvent } from '../events';
import { headlessPods, podPortsOf, publishRoutes } from '../service-routes';
import { compileSelectorObject } from '../store/selector';
import { yieldSlice } from './controller';
import { isReady, sameJson } from './util';

export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpoints-controller.ferry.dev';

interface PortMapping {
  containerName?: string;
  name?: string;
  containerPort: number;
  hostPort: number;
  protocol?: string;
}

type EndpointAddress = NonNullable<EndpointSubset['addresses']>[number];

/** Returns when a route fan-out held back by its spacing is due (service-routes.ts), if one is. */
export async function reconcileEndpoints(deps: Deps): Promise<number | undefined> {
  const services = (await deps.store.list<Service>('Service')).items;
  const existing = new Map(
    (await deps.store.list<Endpoints>('Endpoints')).items.map((e) => [key(e.metadata.namespace, e.metadata.name), e]),
  );
  const pods = (await deps.store.list<Pod>('Pod')).items;
  const readyNodes = new Set(
    (await deps.store.list<Node>('Node')).items.filter((n) => isConditionTrue(n)).map((n) => n.metadata.name),
  );
  // Pods by namespace and label: a Service's candidates are the pods with one of its selector's
  // labels, not every pod (100 Services over 10,000 pods was a million matches per round).
  const podsByLabel = new Map<string, Pod[]>();
  for (const p of pods) {
    for (const [k, v] of Object.entries(p.metadata.labels ?? {})) {
      const at = `${p.metadata.namespace}/${k}=${v}`;
      const list = podsByLabel.get(at) ?? [];
      list.push(p);
      podsByLabel.set(at, list);
    }
  }

  const wanted = new Set<string>();
  // The Endpoints as this pass leaves them: what the route records are made from.
  const current = new Map(existing);
  // Headless Services' pods, for the nodes' DNS (pod addresses, not node ports).
  const headless = new Map<string, RoutePod[]>();
  for (const svc of services) {
    const selector = svc.spec.selector;
    if (!selector || Object.keys(selector).length === 0 || svc.spec.type === 'ExternalName') continue;
    const k = key(svc.metadata.namespace, svc.metadata.name);
    wanted.add(k);
    const matches = compileSelectorObject({ matchLabels: selector });
    const [firstKey, firstValue] = Object.entries(selector)[0] as [string, string];
    const candidates = podsByLabel.get(`${svc.metadata.namespace}/${firstKey}=${firstValue}`) ?? [];
    const matching = candidates.filter((p) => matches(p.metadata.labels));
    await yieldSlice();
    if (svc.spec.clusterIP === 'None')
      headless.set(
        k,
        headlessPods(svc, matching, (p) => isReady(p) && readyNodes.has(p.spec.nodeName ?? '')),
      );
    const { subsets, unpublished } = endpointSubsets(svc, matching, readyNodes);
    try {
      const written = await write(deps, svc, existing.get(k), subsets);
      if (written) current.set(k, written);
      // Only when the endpoints change, so a steady state writes nothing.
      if (written && unpublished.length > 0) await warnUnpublished(deps, svc, unpublished);
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) throw err;
      // Someone else wrote meanwhile: the next pass sees it.
    }
  }
  for (const [k, ep] of existing) {
    if (wanted.has(k) || ep.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) continue;
    if (services.some((s) => key(s.metadata.namespace, s.metadata.name) === k && !s.spec.selector)) continue;
    try {
      await deps.store.delete(
        { kind: 'Endpoints', namespace: ep.metadata.namespace as string, name: ep.metadata.name },
        { resourceVersion: ep.metadata.resourceVersion as string },
      );
      current.delete(k);
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
  }
  return (await publishRoutes(deps, services, current, headless, podPortsOf(pods))).fanOutDueAt;
}

/** The subsets for a Service over the pods its selector matches; pods that cannot be reached, by name. */
export function endpointSubsets(
  svc: Service,
  pods: Pod[],
  readyNodes: Set<string>,
): { subsets: EndpointSubset[]; unpublished: string[] } {
  const groups = new Map<string, EndpointSubset>();
  const unpublished: string[] = [];
  const sorted = [...pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const pod of sorted) {
    if (pod.metadata.deletionTimestamp) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const nodeName = pod.spec.nodeName;
    const hostIP = pod.status?.hostIP;
    if (!nodeName || !hostIP) continue;
    const mappings = ((pod.status as { portMappings?: PortMapping[] } | undefined)?.portMappings ?? []).filter(
      (m) => m.hostPort > 0,
    );
    const ports: { name?: string; port: number; protocol: string }[] = [];
    let missing = false;
    for (const sp of svc.spec.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      const target = sp.targetPort ?? sp.port;
      const m = mappings.find(
        (x) =>
          (x.protocol ?? 'TCP') === protocol &&
          (typeof target === 'number' ? x.containerPort === target : x.name === target),
      );
      if (!m) {
        missing = true;
        continue;
      }
      ports.push({ ...(sp.name ? { name: sp.name } : {}), port: m.hostPort, protocol });
    }
    if (ports.length === 0) {
      // Not started yet (no host port bound) is normal; a pod that declares no such port is not.
      if (missing && pod.status?.phase === 'Running') unpublished.push(pod.metadata.name);
      continue;
    }
    const address: EndpointAddress = {
      ip: hostIP,
      nodeName,
      targetRef: {
        kind: 'Pod',
        namespace: pod.metadata.namespace as string,
        name: pod.metadata.name,
        uid: pod.metadata.uid as string,
      },
    };
    const ready = svc.spec.publishNotReadyAddresses || (isReady(pod) && readyNodes.has(nodeName));
    const k = JSON.stringify(ports);
    const subset: EndpointSubset = groups.get(k) ?? { ports };
    if (ready) subset.addresses = [...(subset.addresses ?? []), address];
    else subset.notReadyAddresses = [...(subset.notReadyAddresses ?? []), address];
    groups.set(k, subset);
  }
  const subsets = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s);
  return { subsets, unpublished };
}

/** Creates or updates the Endpoints and returns them as written; undefined when they were already as wanted. */
async function write(
  deps: Deps,
  svc: Service,
  current: Endpoints | undefined,
  subsets: EndpointSubset[],
): Promise<Endpoints | undefined> {
  const labels = { ...svc.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY };
  if (!current) {
    return await deps.store.create<Endpoints>({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace as string, labels },
      ...(subsets.length ? { subsets } : {}),
    });
  }
  if (sameJson(current.subsets ?? [], subsets) && sameJson(current.metadata.labels ?? {}, labels)) return undefined;
  const next: Endpoints = { ...current, metadata: { ...current.metadata, labels } };
  if (subsets.length) next.subsets = subsets;
  else delete next.subsets;
  return await deps.store.update(next);
}

async function warnUnpublished(deps: Deps, svc: Service, pods: string[]): Promise<void> {
  const targets = (svc.spec.ports ?? []).map((p) => String(p.targetPort ?? p.port)).join(', ');
  await recordEvent(
    deps,
    svc,
    'Warning',
    'PortNotPublished',
    `pod(s) ${pods.join(', ')} do not declare target port ${targets} in spec.containers[].ports, so ferry cannot publish it on the node; they get no traffic`,
    { component: 'endpoints-controller' },
  );
}

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}
