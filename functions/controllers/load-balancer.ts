/**
 * The service controller of the cloud-controller-manager: a LoadBalancer Service gets a load
 * balancer from each cloud its nodes run in, in front of its node ports (traffic only to Ready
 * nodes), and their addresses in `status.loadBalancer.ingress`.
 *
 * Nodes are grouped by their Cloud (label `ferry.dev/cloud`, set on every NodePool machine); nodes
 * of no Cloud (`ferry up`'s own) belong to the control plane's provider. A Service gets a load
 * balancer in every Cloud that has Ready nodes, so while a NodePool moves between Clouds its
 * ingress lists the old Cloud's load balancer and the new one's; once the old Cloud has no Ready
 * node that is not being retired, its load balancer is deleted and leaves the list. Moving traffic between them is the
 * user's DNS (a record per address, or a weighted record), as with any two clouds.
 *
 * Stateless like every controller: what was ensured is kept in an internal `LoadBalancerRecord`
 * per Service (per Cloud: the inputs' fingerprint and the answer), so a provider is called only
 * when the ports or the nodes change, and a load balancer whose Service is gone, no longer of type
 * LoadBalancer, or whose Cloud has no node left is deleted even after a restart. Without a
 * provider (`ferry server` alone) the Service stays `<pending>` with a Warning Event saying why;
 * its node ports work regardless.
 */
import { createHash } from 'node:crypto';
import type { CloudConfig, CloudProvider, LoadBalancerIngress, LoadBalancerNode } from '../../providers/types';
import type { Cloud, Node } from '../../schemas';
import { isConditionTrue } from '../../schemas/conditions';
import type { Service } from '../../schemas/service';
import type { Deps } from '../deps';
import { isLostRace } from '../errors';
import { recordEventOnce } from '../events';
import { retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import { cloudConfig } from './nodepool/cloud-config';
import { RETIRING_ANNOTATION } from './nodepool/context';
import { sameJson } from './util';

export const LB_RECORD_KIND = 'LoadBalancerRecord';
const CLOUD_LABEL = 'ferry.dev/cloud';
/** The record key of the control plane's own provider (nodes of no Cloud). */
const NO_CLOUD = '';

interface Ensured {
  fingerprint: string;
  ingress: LoadBalancerIngress;
}

interface LbRecord extends Obj {
  /** By Cloud name (NO_CLOUD for the control plane's provider); `fingerprint`/`ingress`: an older record. */
  spec: { clouds?: Record<string, Ensured>; fingerprint?: string; ingress?: LoadBalancerIngress };
}

/** Where the load balancers of Clouds come from (the node pool controller's options fit). */
export interface LoadBalancerClouds {
  cluster: string;
  providerFor: (config: CloudConfig) => Promise<CloudProvider>;
}

export async function reconcileLoadBalancers(
  deps: Deps,
  provider: CloudProvider | undefined,
  clouds?: LoadBalancerClouds,
): Promise<void> {
  const services = (await deps.store.list<Service>('Service')).items;
  const records = new Map((await deps.store.list<LbRecord>(LB_RECORD_KIND)).items.map((r) => [r.metadata.name, r]));
  const wanted = services.filter((s) => s.spec.type === 'LoadBalancer');
  if (wanted.length === 0 && records.size === 0) return;

  const cloudObjects = clouds
    ? new Map((await deps.store.list<Cloud>('Cloud')).items.map((c) => [c.metadata.name, c]))
    : new Map<string, Cloud>();
  const groups = nodesByCloud((await deps.store.list<Node>('Node')).items, cloudObjects);
  const providers = new Map<string, Promise<CloudProvider | undefined>>();
  const providerOf = (key: string): Promise<CloudProvider | undefined> => {
    let p = providers.get(key);
    if (!p) {
      const cloud = cloudObjects.get(key);
      p =
        key === NO_CLOUD || !cloud || !clouds
          ? Promise.resolve(key === NO_CLOUD ? provider : undefined)
          : cloudConfig(deps, cloud).then((c) => clouds.providerFor(c));
      providers.set(key, p);
    }
    return p;
  };
  const cluster = clouds?.cluster ?? 'ferry';

  const keep = new Set<string>();
  for (const svc of wanted) {
    const name = recordName(svc);
    keep.add(name);
    const record = records.get(name);
    const before = ensuredOf(record);
    // Every Cloud with a Ready node; while none has one, every Cloud with a node.
    let targets = [...groups].filter(([, nodes]) => nodes.some((n) => n.ready));
    if (targets.length === 0) targets = [...groups];
    targets = targets.filter(([key]) => key !== NO_CLOUD || provider);
    if (targets.length === 0 && !provider && before.size === 0) {
      await recordEventOnce(
        deps,
        svc,
        'Warning',
        'NoCloudProvider',
        'no cloud provider is configured, so no load balancer can be made; the Service is reachable on its node ports',
      );
      continue;
    }
    const ports = (svc.spec.ports ?? [])
      .filter((p) => p.nodePort)
      .map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        nodePort: p.nodePort as number,
        protocol: p.protocol ?? 'TCP',
      }));
    const current = svc.status?.loadBalancer?.ingress ?? [];
    const after = new Map<string, Ensured>();
    for (const [key, nodes] of targets) {
      const fingerprint = createHash('sha256')
        .update(JSON.stringify({ uid: svc.metadata.uid, ports, nodes }))
        .digest('base64url');
      const had = before.get(key);
      if (had?.fingerprint === fingerprint) {
        after.set(key, had);
        continue;
      }
      try {
        const p = await providerOf(key);
        if (!p) continue;
        const previous = had?.ingress.ip;
        const ingress = await p.ensureLoadBalancer(
          {
            cluster,
            namespace: svc.metadata.namespace as string,
            name: svc.metadata.name,
            ...(svc.metadata.uid ? { uid: svc.metadata.uid } : {}),
            ports,
            ...(previous
              ? { previousAddress: previous }
              : key === NO_CLOUD && current[0]?.ip
                ? { previousAddress: current[0].ip }
                : {}),
          },
          nodes,
        );
        after.set(key, { fingerprint, ingress });
        if (!had)
          await recordEventOnce(
            deps,
            svc,
            'Normal',
            'EnsuredLoadBalancer',
            `load balancer at ${ingress.ip ?? ingress.hostname}${key ? ` in Cloud "${key}"` : ''}`,
          );
      } catch (err) {
        if (had) after.set(key, had); // keep serving what was there
        await recordEventOnce(
          deps,
          svc,
          'Warning',
          'SyncLoadBalancerFailed',
          `ensuring the load balancer${key ? ` in Cloud "${key}"` : ''} failed: ${String((err as Error).message)}`,
        );
      }
    }
    // Clouds that no longer have nodes: their load balancer goes.
    for (const [key, had] of before) {
      if (after.has(key)) continue;
      if (!(await deleteIn(deps, providerOf, key, cluster, svc.metadata.namespace as string, svc.metadata.name)))
        after.set(key, had);
    }
    const ingress = [...after.keys()].sort().map((k) => (after.get(k) as Ensured).ingress);
    await saveRecord(deps, record, name, Object.fromEntries(after));
    if (!sameJson(current, ingress)) await writeIngress(deps, svc, ingress.length > 0 ? ingress : undefined);
  }

  for (const [name, record] of records) {
    if (keep.has(name)) continue;
    const [namespace = '', svcName = ''] = name.split('.');
    let all = true;
    for (const key of ensuredOf(record).keys())
      all = (await deleteIn(deps, providerOf, key, cluster, namespace, svcName)) && all;
    if (!all) continue;
    try {
      await deps.store.delete(
        { kind: LB_RECORD_KIND, name },
        { resourceVersion: record.metadata.resourceVersion as string },
      );
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
    // A Service changed away from LoadBalancer loses its ingress too.
    const svc = services.find((s) => recordName(s) === name);
    if (svc?.status?.loadBalancer?.ingress?.length) await writeIngress(deps, svc, undefined);
  }
}

/** Nodes with an address, by Cloud: a known Cloud's name, else NO_CLOUD. */
function nodesByCloud(nodes: Node[], clouds: Map<string, Cloud>): Map<string, LoadBalancerNode[]> {
  const groups = new Map<string, LoadBalancerNode[]>();
  for (const n of [...nodes].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const address = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    if (address === '') continue;
    const label = n.metadata.labels?.[CLOUD_LABEL];
    const key = label && clouds.has(label) ? label : NO_CLOUD;
    const list = groups.get(key) ?? [];
    // A node the pool is retiring leaves the load balancers first, before its machine goes, as
    // Kubernetes' service controller drops nodes being deleted: open connections finish, new ones
    // go to the nodes that stay.
    const retiring = n.metadata.annotations?.[RETIRING_ANNOTATION] !== undefined;
    list.push({ name: n.metadata.name, address, ready: isConditionTrue(n) && !retiring });
    groups.set(key, list);
  }
  return groups;
}

/** Deletes a Service's load balancer in one Cloud; false when it could not (kept for the next pass). */
async function deleteIn(
  deps: Deps,
  providerOf: (key: string) => Promise<CloudProvider | undefined>,
  key: string,
  cluster: string,
  namespace: string,
  name: string,
): Promise<boolean> {
  try {
    const p = await providerOf(key);
    if (!p) return key !== NO_CLOUD; // a deleted Cloud: nothing left to call
    await p.deleteLoadBalancer({ cluster, namespace, name });
    return true;
  } catch (err) {
    deps.log.warn('deleting a load balancer failed; will retry', {
      service: `${namespace}/${name}`,
      cloud: key,
      error: String(err),
    });
    return false;
  }
}

function ensuredOf(record: LbRecord | undefined): Map<string, Ensured> {
  if (!record) return new Map();
  if (record.spec.clouds) return new Map(Object.entries(record.spec.clouds));
  const { fingerprint, ingress } = record.spec;
  return fingerprint && ingress ? new Map([[NO_CLOUD, { fingerprint, ingress }]]) : new Map();
}

/** Namespaces and names are DNS labels, so a dot cannot occur in either. */
function recordName(svc: Service): string {
  return `${svc.metadata.namespace}.${svc.metadata.name}`;
}

async function saveRecord(
  deps: Deps,
  record: LbRecord | undefined,
  name: string,
  clouds: Record<string, Ensured>,
): Promise<void> {
  if (record) {
    if (sameJson(record.spec, { clouds })) return;
    await deps.store.update<LbRecord>({ ...record, spec: { clouds } });
  } else
    await deps.store.create<LbRecord>({
      apiVersion: 'ferry.dev/v1',
      kind: LB_RECORD_KIND,
      metadata: { name },
      spec: { clouds },
    });
}

async function writeIngress(deps: Deps, svc: Service, ingress: LoadBalancerIngress[] | undefined): Promise<void> {
  const ref = { kind: 'Service', namespace: svc.metadata.namespace as string, name: svc.metadata.name };
  await retryOnConflict(async (current) => {
    const fresh = (current as Service | undefined) ?? (await deps.store.get<Service>(ref));
    if (!fresh) return;
    await deps.store.update({ ...fresh, status: { ...fresh.status, loadBalancer: ingress ? { ingress } : {} } });
  }, 3).catch((err) => {
    if (!isLostRace(err)) throw err;
  });
}
