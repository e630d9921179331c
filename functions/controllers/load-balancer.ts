/**
 * The service controller of the cloud-controller-manager: a LoadBalancer Service gets a load
 * balancer from the cloud provider, in front of its node ports on every node (traffic only to
 * Ready ones), and its address in `status.loadBalancer.ingress`.
 *
 * Stateless like every controller: what was ensured is kept in an internal `LoadBalancerRecord`
 * per Service (the inputs' fingerprint and the answer), so the provider is called only when the
 * ports or the nodes change, and a load balancer whose Service is gone or no longer of type
 * LoadBalancer is deleted even after a restart. Without a provider (`ferry server` alone) the
 * Service stays `<pending>` with a Warning Event saying why; its node ports work regardless.
 */
import { createHash } from 'node:crypto';
import type { CloudProvider, LoadBalancerIngress, LoadBalancerNode } from '../../providers/types';
import type { Node } from '../../schemas';
import type { Service } from '../../schemas/service';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEventOnce } from '../events';
import type { Obj } from '../store/types';
import { sameJson } from './util';

export const LB_RECORD_KIND = 'LoadBalancerRecord';

interface LbRecord extends Obj {
  spec: { fingerprint: string; ingress: LoadBalancerIngress };
}

export async function reconcileLoadBalancers(deps: Deps, provider: CloudProvider | undefined): Promise<void> {
  const services = (await deps.store.list<Service>('Service')).items;
  const records = new Map((await deps.store.list<LbRecord>(LB_RECORD_KIND)).items.map((r) => [r.metadata.name, r]));
  const wanted = services.filter((s) => s.spec.type === 'LoadBalancer');
  if (wanted.length === 0 && records.size === 0) return;

  const nodes: LoadBalancerNode[] = (await deps.store.list<Node>('Node')).items
    .map((n) => ({
      name: n.metadata.name,
      address: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
      ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    }))
    .filter((n) => n.address !== '')
    .sort((a, b) => a.name.localeCompare(b.name));

  const keep = new Set<string>();
  for (const svc of wanted) {
    const name = recordName(svc);
    keep.add(name);
    if (!provider) {
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
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ uid: svc.metadata.uid, ports, nodes }))
      .digest('base64url');
    const record = records.get(name);
    const current = svc.status?.loadBalancer?.ingress;
    if (record?.spec.fingerprint === fingerprint && sameJson(current ?? [], [record.spec.ingress])) continue;
    let ingress: LoadBalancerIngress;
    try {
      ingress = await provider.ensureLoadBalancer(
        {
          namespace: svc.metadata.namespace as string,
          name: svc.metadata.name,
          ports,
          ...(current?.[0]?.ip ? { previousAddress: current[0].ip } : {}),
        },
        nodes,
      );
    } catch (err) {
      await recordEventOnce(
        deps,
        svc,
        'Warning',
        'SyncLoadBalancerFailed',
        `ensuring the load balancer failed: ${String((err as Error).message)}`,
      );
      continue;
    }
    await saveRecord(deps, record, name, { fingerprint, ingress });
    if (!sameJson(current ?? [], [ingress])) await writeIngress(deps, svc, [ingress]);
    if (!record) {
      await recordEventOnce(
        deps,
        svc,
        'Normal',
        'EnsuredLoadBalancer',
        `load balancer at ${ingress.ip ?? ingress.hostname}`,
      );
    }
  }

  for (const [name, record] of records) {
    if (keep.has(name) || !provider) continue;
    const [namespace = '', svcName = ''] = name.split('.');
    try {
      await provider.deleteLoadBalancer({ namespace, name: svcName });
      await deps.store.delete(
        { kind: LB_RECORD_KIND, name },
        { resourceVersion: record.metadata.resourceVersion as string },
      );
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) {
        deps.log.warn('deleting a load balancer failed; will retry', { service: name, error: String(err) });
      }
    }
    // A Service changed away from LoadBalancer loses its ingress too.
    const svc = services.find((s) => recordName(s) === name);
    if (svc?.status?.loadBalancer?.ingress?.length) await writeIngress(deps, svc, undefined);
  }
}

/** Namespaces and names are DNS labels, so a dot cannot occur in either. */
function recordName(svc: Service): string {
  return `${svc.metadata.namespace}.${svc.metadata.name}`;
}

async function saveRecord(
  deps: Deps,
  record: LbRecord | undefined,
  name: string,
  spec: LbRecord['spec'],
): Promise<void> {
  if (record) await deps.store.update<LbRecord>({ ...record, spec });
  else
    await deps.store.create<LbRecord>({ apiVersion: 'ferry.dev/v1', kind: LB_RECORD_KIND, metadata: { name }, spec });
}

async function writeIngress(deps: Deps, svc: Service, ingress: LoadBalancerIngress[] | undefined): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const fresh = await deps.store.get<Service>({
      kind: 'Service',
      namespace: svc.metadata.namespace as string,
      name: svc.metadata.name,
    });
    if (!fresh) return;
    const status = { ...fresh.status, loadBalancer: ingress ? { ingress } : {} };
    try {
      await deps.store.update({ ...fresh, status });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}
