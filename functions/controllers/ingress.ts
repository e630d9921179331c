/**
 * The ingress controller for ferry's built-in ingress (IngressClass `ferry`, controller
 * `ferry.dev/ingress`): keeps the built-in class, computes the table every node's ingress serves
 * (functions/ingress-table.ts), puts the control plane's provider's load balancer in front of the
 * nodes' ingress ports, and sets `status.loadBalancer.ingress` on the Ingresses it serves.
 *
 * Which Ingresses are ferry's: `spec.ingressClassName` (or the older `kubernetes.io/ingress.class`
 * annotation) names a class whose controller is `ferry.dev/ingress`, or names none while a default
 * class (`ingressclass.kubernetes.io/is-default-class: "true"`) is ferry's, as Kubernetes'
 * DefaultIngressClass admission would have set it. Every other Ingress is left alone, status too.
 *
 * TLS entries need a `kubernetes.io/tls` Secret in the Ingress' namespace with `tls.crt` and
 * `tls.key`; one that is missing or of another type gets a Warning Event and is left out (the
 * hosts are then served over HTTP only), as ingress-nginx falls back to its default certificate.
 */
import { createHash } from 'node:crypto';
import type { CloudProvider, LoadBalancerNode } from '../../providers/types';
import type { IngressDefault, IngressPathRule, IngressServiceRef } from '../../schemas/agent-protocol';
import { isConditionTrue } from '../../schemas/conditions';
import type { Secret } from '../../schemas/core';
import {
  DEFAULT_INGRESS_CLASS_ANNOTATION,
  FERRY_INGRESS_CLASS,
  FERRY_INGRESS_CONTROLLER,
  type Ingress,
  type IngressBackend,
  type IngressClass,
} from '../../schemas/networking';
import type { Node } from '../../schemas/node';
import type { Deps } from '../deps';
import { isAlreadyExists, isLostRace } from '../errors';
import { recordEventOnce } from '../events';
import {
  INGRESS_TABLE_REF,
  type IngressTableRecord,
  type IngressTableSpec,
  publishIngressTable,
  type StoredCert,
  TLS_SECRET_TYPE,
  tableHash,
} from '../ingress-table';
import { retryOnConflict } from '../store/retry';
import { sameJson } from './util';

/** The old annotation some manifests still carry instead of `spec.ingressClassName`. */
const CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** The ports every node's ingress listens on (agent flags `--ingress-http-port`/`--ingress-https-port`). */
export const INGRESS_PORTS = { http: 80, https: 443 };
/** What the provider's load balancer for the built-in ingress is named after (one per cluster). */
export const INGRESS_LB = { namespace: 'kube-system', name: 'ferry-ingress' };

export interface IngressControllerOptions {
  provider?: CloudProvider;
  cluster?: string;
  /**
   * Called when a provider call failed and the next run retries it: the manager runs this
   * controller only after writes it acts on (due.ts), so a failure has to ask for that run.
   */
  retryLater?: () => void;
}

/** The Ingresses this controller serves, oldest first (the oldest wins a conflicting rule). */
export function ferryIngresses(ingresses: Ingress[], classes: IngressClass[]): Ingress[] {
  const ours = new Set(
    classes.filter((c) => c.spec?.controller === FERRY_INGRESS_CONTROLLER).map((c) => c.metadata.name),
  );
  const defaultIsOurs = classes.some(
    (c) => c.metadata.annotations?.[DEFAULT_INGRESS_CLASS_ANNOTATION] === 'true' && ours.has(c.metadata.name),
  );
  return ingresses
    .filter((ing) => {
      const cls = ing.spec?.ingressClassName ?? ing.metadata.annotations?.[CLASS_ANNOTATION];
      return cls === undefined ? defaultIsOurs : ours.has(cls);
    })
    .sort(
      (a, b) =>
        String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
}

function refOf(ns: string, backend: IngressBackend | undefined): IngressServiceRef | undefined {
  const svc = backend?.service;
  const port = svc?.port?.number ?? svc?.port?.name;
  if (!svc || port === undefined) return undefined;
  return { namespace: ns, name: svc.name, port };
}

export async function reconcileIngresses(deps: Deps, options: IngressControllerOptions = {}): Promise<void> {
  const classes = (await deps.store.list<IngressClass>('IngressClass')).items;
  if (!classes.some((c) => c.metadata.name === FERRY_INGRESS_CLASS)) {
    const created = await ensureBuiltInClass(deps);
    if (created) classes.push(created);
  }
  const all = (await deps.store.list<Ingress>('Ingress')).items;
  const ours = ferryIngresses(all, classes);
  const record = await deps.store.get<IngressTableRecord>(INGRESS_TABLE_REF, { consistent: false });
  if (ours.length === 0 && !record) return;

  const rules: IngressPathRule[] = [];
  const defaults: IngressDefault[] = [];
  const tls: StoredCert[] = [];
  const secretVersions: string[] = [];
  for (const ing of ours) {
    const ns = ing.metadata.namespace as string;
    const key = `${ns}/${ing.metadata.name}`;
    const hosts = new Set<string>();
    for (const rule of ing.spec?.rules ?? []) {
      hosts.add(rule.host ?? '');
      for (const p of rule.http?.paths ?? []) {
        const backend = refOf(ns, p.backend);
        if (!backend) continue;
        rules.push({
          ingress: key,
          ...(rule.host ? { host: rule.host } : {}),
          path: p.path ?? '/',
          pathType: p.pathType === 'Exact' ? 'Exact' : 'Prefix',
          backend,
        });
      }
    }
    const dflt = refOf(ns, ing.spec?.defaultBackend);
    if (dflt) defaults.push({ ingress: key, hosts: [...hosts], backend: dflt });
    for (const entry of ing.spec?.tls ?? []) {
      if (!entry.secretName) continue;
      const secret = await deps.store.get<Secret>({ kind: 'Secret', namespace: ns, name: entry.secretName });
      const usable = secret?.type === TLS_SECRET_TYPE && secret.data?.['tls.crt'] && secret.data?.['tls.key'];
      if (!usable) {
        await recordEventOnce(
          deps,
          ing,
          'Warning',
          'TLSSecretUnusable',
          `TLS Secret "${entry.secretName}" ${secret ? `is not of type ${TLS_SECRET_TYPE} with tls.crt and tls.key` : 'not found'}; its hosts are served over HTTP only`,
        );
        continue;
      }
      tls.push({ ingress: key, hosts: entry.hosts ?? [], secret: { namespace: ns, name: entry.secretName } });
      secretVersions.push(String(secret.metadata.resourceVersion ?? ''));
    }
  }
  const table = { rules, defaults, tls };
  const hash = tableHash(table, secretVersions);

  const nodes = (await deps.store.list<Node>('Node')).items;
  let lb = ours.length > 0 ? await ensureLoadBalancer(deps, options, nodes, record?.spec.loadBalancer) : undefined;
  // One whose deletion failed stays in the record, so the retry knows there is one to delete.
  if (ours.length === 0 && record?.spec.loadBalancer && !(await deleteLoadBalancer(deps, options)))
    lb = record.spec.loadBalancer;
  await publishIngressTable(deps, { hash, ...table }, lb);

  const address = lb
    ? [
        {
          ...(lb.ingress.ip ? { ip: lb.ingress.ip } : {}),
          ...(lb.ingress.hostname ? { hostname: lb.ingress.hostname } : {}),
          // A load balancer that could not take 80 or 443 (no root) says where it listens instead.
          ...(lb.ingress.ports?.some((p) => p.port !== 80 && p.port !== 443) ? { ports: lb.ingress.ports } : {}),
        },
      ]
    : readyNodeAddresses(nodes).map((ip) => ({ ip }));
  for (const ing of ours) {
    if (sameJson(ing.status?.loadBalancer?.ingress ?? [], address)) continue;
    await writeStatus(deps, ing, address);
  }
}

async function ensureBuiltInClass(deps: Deps): Promise<IngressClass | undefined> {
  try {
    return await deps.store.create<IngressClass>({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: FERRY_INGRESS_CLASS, annotations: { [DEFAULT_INGRESS_CLASS_ANNOTATION]: 'true' } },
      spec: { controller: FERRY_INGRESS_CONTROLLER },
    });
  } catch (err) {
    if (isAlreadyExists(err)) return undefined;
    throw err;
  }
}

function lbNodes(nodes: Node[]): LoadBalancerNode[] {
  return nodes
    .map((n) => ({
      name: n.metadata.name,
      address: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
      ready: isConditionTrue(n),
    }))
    .filter((n) => n.address !== '')
    .sort((a, b) => a.name.localeCompare(b.name));
}

function readyNodeAddresses(nodes: Node[]): string[] {
  return lbNodes(nodes)
    .filter((n) => n.ready)
    .map((n) => n.address);
}

/** The provider's load balancer over every node's ingress ports, called only when its inputs moved. */
async function ensureLoadBalancer(
  deps: Deps,
  options: IngressControllerOptions,
  nodes: Node[],
  before: IngressTableSpec['loadBalancer'],
): Promise<IngressTableSpec['loadBalancer']> {
  if (!options.provider) return undefined;
  const targets = lbNodes(nodes);
  const ports = [
    { name: 'http', port: 80, nodePort: INGRESS_PORTS.http, protocol: 'TCP' },
    { name: 'https', port: 443, nodePort: INGRESS_PORTS.https, protocol: 'TCP' },
  ];
  const fingerprint = createHash('sha256').update(JSON.stringify({ ports, targets })).digest('base64url');
  if (before?.fingerprint === fingerprint) return before;
  try {
    const ingress = await options.provider.ensureLoadBalancer(
      {
        cluster: options.cluster ?? 'ferry',
        ...INGRESS_LB,
        ports,
        ...(before?.ingress.ip ? { previousAddress: before.ingress.ip } : {}),
      },
      targets,
    );
    return { fingerprint, ingress };
  } catch (err) {
    deps.log.warn('ensuring the ingress load balancer failed; will retry', { error: String(err) });
    options.retryLater?.();
    return before;
  }
}

/** True when it is gone (or there is no provider to have made one). */
async function deleteLoadBalancer(deps: Deps, options: IngressControllerOptions): Promise<boolean> {
  if (!options.provider) return true;
  try {
    await options.provider.deleteLoadBalancer({ cluster: options.cluster ?? 'ferry', ...INGRESS_LB });
    return true;
  } catch (err) {
    deps.log.warn('deleting the ingress load balancer failed; will retry', { error: String(err) });
    options.retryLater?.();
    return false;
  }
}

async function writeStatus(
  deps: Deps,
  ing: Ingress,
  ingress: { ip?: string; hostname?: string; ports?: { port: number; protocol: string }[] }[],
): Promise<void> {
  const ref = { kind: 'Ingress', namespace: ing.metadata.namespace as string, name: ing.metadata.name };
  await retryOnConflict(async (current) => {
    const fresh = (current as Ingress | undefined) ?? (await deps.store.get<Ingress>(ref));
    if (!fresh) return;
    await deps.store.update({ ...fresh, status: { ...fresh.status, loadBalancer: ingress.length ? { ingress } : {} } });
  }, 3).catch((err) => {
    if (!isLostRace(err)) throw err;
  });
}
