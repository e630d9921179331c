/**
 * The `kubernetes` Service in `default`, as every Kubernetes cluster has: ClusterIP at the first
 * address of the service range (10.96.0.1 by default), port 443 named `https`. Pods reach the API
 * at `kubernetes.default.svc:443` and their `KUBERNETES_SERVICE_HOST` is that cluster IP; on each
 * node the agent serves it from its API relay (agent/api-route.ts puts the relay in as the
 * route's endpoint), so the Service has no selector and no Endpoints.
 *
 * Like kube-apiserver's controller (pkg/controlplane/controller/kubernetesservice), the API
 * makes it at start and makes it again or puts its type and ports back after a user deletes or
 * edits it (functions/api/index.ts calls this after such a write), and the controllers do after
 * any other write of a Service (declared.ts: a controller such as gc deleting it goes through no
 * API request); it sets nothing else, so labels and annotations users add stay. One get when all
 * is well: a Lambda cold start pays that.
 * Its address and node port are claimed as any Service's (cluster-ips.ts, node-ports.ts); the
 * first address is refused to every other Service (checkClusterIP). Two re-makes at once (two
 * servers, the API and the controllers) share its claims, which are by name: the loser's failed
 * write releases none the winner's Service holds (tested in kubernetes-service-race.test.ts).
 */
import { applyDefaults } from '../schemas';
import { formatIPv4 } from '../schemas/ipv4';
import { DEFAULT_SERVICE_RANGE, type ServiceRange, writeServiceWithClusterIP } from './cluster-ips';
import type { Deps } from './deps';
import { FerryError, isAlreadyExists, isConflict, isNotFound } from './errors';
import { DEFAULT_NODE_PORT_RANGE, type NodePortRange, writeServiceWithNodePorts } from './node-ports';
import type { Obj } from './store/types';

export const KUBERNETES_SERVICE = { namespace: 'default', name: 'kubernetes' } as const;

interface ServicePort {
  name?: string;
  port?: number;
  protocol?: string;
  targetPort?: number | string;
  nodePort?: number;
}
interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
  ports?: ServicePort[];
  [key: string]: unknown;
}
type ServiceObj = Obj & { spec: ServiceSpec };

export interface KubernetesServiceRanges {
  serviceRange: ServiceRange;
  nodePortRange: NodePortRange;
}

/** The ranges a server was configured with, the defaults where it names none (as the API's). */
export function kubernetesServiceRanges(config: {
  serviceRange?: ServiceRange | undefined;
  nodePortRange?: NodePortRange | undefined;
}): KubernetesServiceRanges {
  return {
    serviceRange: config.serviceRange ?? DEFAULT_SERVICE_RANGE,
    nodePortRange: config.nodePortRange ?? DEFAULT_NODE_PORT_RANGE,
  };
}

/** The Service's cluster IP in this range: its first address. */
export function kubernetesServiceIP(range: ServiceRange): string {
  return formatIPv4(range.base + 1);
}

export function isKubernetesService(namespace: string | undefined, name: string | undefined): boolean {
  return namespace === KUBERNETES_SERVICE.namespace && name === KUBERNETES_SERVICE.name;
}

/** The one port it has, as kube-apiserver writes it (the target is where ferry's relay serves: 443 too). */
const HTTPS_PORT: ServicePort = { name: 'https', port: 443, protocol: 'TCP', targetPort: 443 };

function desired(range: ServiceRange): ServiceObj {
  const ip = kubernetesServiceIP(range);
  return applyDefaults<ServiceObj>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...KUBERNETES_SERVICE,
      // kube-apiserver's labels on it, which clients select it by.
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], sessionAffinity: 'None', ports: [{ ...HTTPS_PORT }] },
  });
}

/** Whether a stored one has the type and port kube-apiserver keeps it at (its reconcile looks at no more). */
function inShape(svc: ServiceObj): boolean {
  const ports = svc.spec.ports ?? [];
  const p = ports[0];
  return (
    (svc.spec.type ?? 'ClusterIP') === 'ClusterIP' &&
    ports.length === 1 &&
    p !== undefined &&
    p.name === HTTPS_PORT.name &&
    p.port === HTTPS_PORT.port &&
    (p.protocol ?? 'TCP') === HTTPS_PORT.protocol &&
    p.targetPort === HTTPS_PORT.targetPort
  );
}

/**
 * Makes the Service when it is missing and puts its type and port back when they were changed.
 * Safe from several processes at once (a lost race is someone else's success). A Service that
 * already holds the first address (chosen before ferry reserved it) keeps it, and a full node port
 * range has none for it: it is then not made, and the log says why.
 */
export async function ensureKubernetesService(deps: Deps, ranges: KubernetesServiceRanges): Promise<void> {
  const ref = { kind: 'Service', ...KUBERNETES_SERVICE };
  const stored = await deps.store.get<ServiceObj>(ref);
  try {
    if (!stored) {
      const svc = desired(ranges.serviceRange);
      await writeServiceWithNodePorts(deps, ranges.nodePortRange, svc, undefined, (o) =>
        writeServiceWithClusterIP(deps, ranges.serviceRange, o, undefined, (x) => deps.store.create(x)),
      );
      return;
    }
    if (inShape(stored)) return;
    // Its node port is kept (ferry gives every Service one), so putting the port back claims nothing.
    const nodePort =
      stored.spec.ports?.find((p) => p.port === HTTPS_PORT.port)?.nodePort ?? stored.spec.ports?.[0]?.nodePort;
    const spec: ServiceSpec = {
      ...stored.spec,
      type: 'ClusterIP',
      ports: [{ ...HTTPS_PORT, ...(nodePort ? { nodePort } : {}) }],
    };
    // Made an ExternalName or headless meanwhile: it gets its first address back.
    if (typeof spec.clusterIP !== 'string' || spec.clusterIP === '' || spec.clusterIP === 'None') {
      spec.clusterIP = kubernetesServiceIP(ranges.serviceRange);
      spec.clusterIPs = [spec.clusterIP];
    }
    delete spec.externalName;
    const next: ServiceObj = { ...stored, spec };
    await writeServiceWithNodePorts(deps, ranges.nodePortRange, next, stored, (o) =>
      writeServiceWithClusterIP(deps, ranges.serviceRange, o, stored, (x) => deps.store.update(x)),
    );
  } catch (err) {
    if (isAlreadyExists(err) || isConflict(err) || isNotFound(err)) return;
    // Its address held by another Service, or no node port left: the API still starts, and says so.
    if (err instanceof FerryError && (err.status === 422 || err.status === 503)) {
      deps.log.warn('the kubernetes Service cannot be made; pods reach the API at their node relay only', {
        error: err.message,
      });
      return;
    }
    throw err;
  }
}
