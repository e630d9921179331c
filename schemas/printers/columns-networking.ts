/** Table columns of networking.k8s.io kinds (Ingress, IngressClass, NetworkPolicy), after kubectl's printers. */
import { arr, at, type Loose, selectorString, str } from './fields';
import { created, type KindColumns, name } from './kind-columns';

/** kubectl's formatHosts: every rule's host (`*` for none), four at most then `+ N more...`. */
function ingressHosts(ing: Loose): string {
  const hosts = arr(ing, 'spec.rules').map((r) => str(r, 'host') || '*');
  if (hosts.length === 0) return '*';
  return hosts.length > 4 ? `${hosts.slice(0, 4).join(',')} + ${hosts.length - 4} more...` : hosts.join(',');
}

/** kubectl's loadBalancerStatusStringer: each ingress' ip or hostname. */
function ingressAddress(ing: Loose): string {
  return arr(ing, 'status.loadBalancer.ingress')
    .map((i) => str(i, 'ip') || str(i, 'hostname'))
    .filter(Boolean)
    .join(',');
}

function ingressClassParameters(cls: Loose): string {
  const kind = str(cls, 'spec.parameters.kind');
  if (!kind) return '<none>';
  const group = str(cls, 'spec.parameters.apiGroup');
  return `${group ? `${kind}.${group}` : kind}/${str(cls, 'spec.parameters.name')}`;
}

export const NETWORKING_COLUMNS: Record<string, KindColumns> = {
  Ingress: {
    headers: ['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE'],
    row: (o, now) => [
      name(o),
      str(o, 'spec.ingressClassName', '<none>'),
      ingressHosts(o),
      ingressAddress(o),
      arr(o, 'spec.tls').length > 0 ? '80, 443' : '80',
      created(o, now),
    ],
  },
  IngressClass: {
    headers: ['NAME', 'CONTROLLER', 'PARAMETERS', 'AGE'],
    row: (o, now) => [name(o), str(o, 'spec.controller'), ingressClassParameters(o), created(o, now)],
  },
  NetworkPolicy: {
    headers: ['NAME', 'POD-SELECTOR', 'AGE'],
    row: (o, now) => [name(o), selectorString(at(o, 'spec.podSelector')), created(o, now)],
  },
};
