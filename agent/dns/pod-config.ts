/**
 * A pod's resolver configuration as the kubelet computes it (pkg/kubelet/network/dns/dns.go,
 * GetPodDNS): the base from `dnsPolicy`, then the pod's `dnsConfig` appended, then cut to the
 * resolver's limits.
 *
 * - ClusterFirst (the default) and ClusterFirstWithHostNet: `nameserver <node DNS>`, `search
 *   <ns>.svc.<domain> svc.<domain> <domain>` + the node's search domains, `options ndots:5`.
 *   Before the node DNS address is known it falls back to Default, as the kubelet does without
 *   `--cluster-dns`. (hostNetwork pods, for which ClusterFirst means Default, are refused.)
 * - Default: the node's resolv.conf. Its loopback nameservers are unreachable from the pod
 *   network, so they are dropped; if none is left the pod gets the node DNS server, which forwards
 *   to them (the kubelet would write the loopback address and the pod would resolve nothing).
 * - None: only `dnsConfig`.
 *
 * `dnsConfig` nameservers and searches are appended without duplicates; its options replace the
 * base's of the same name.
 */
import type { ResolvConf } from './resolv-conf';
import { isLoopback } from './resolv-conf';

/** The kubelet's limits when it writes resolv.conf (glibc reads 3 nameservers). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCH_PATHS = 32;
const MAX_SEARCH_CHARS = 2048;
const MAX_SEARCH_PATH_LENGTH = 253;

export interface PodDnsFields {
  namespace: string;
  dnsPolicy?: string;
  dnsConfig?: {
    nameservers?: string[];
    searches?: string[];
    options?: { name?: string; value?: string }[];
  };
}

export interface NodeDnsFacts {
  /** The node DNS server's address (the pod network's gateway), once known. */
  nodeDns?: string;
  domain: string;
  /** The node's resolv.conf. */
  host: ResolvConf;
}

export function podResolvConf(pod: PodDnsFields, node: NodeDnsFacts): ResolvConf {
  let base: ResolvConf;
  const policy = pod.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'None') base = { nameservers: [], searches: [], options: [] };
  else if ((policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') && node.nodeDns) {
    const d = node.domain;
    base = {
      nameservers: [node.nodeDns],
      searches: unique([`${pod.namespace}.svc.${d}`, `svc.${d}`, d, ...node.host.searches]),
      options: ['ndots:5'],
    };
  } else {
    const reachable = node.host.nameservers.filter((n) => !isLoopback(n));
    base = {
      nameservers: reachable.length || !node.nodeDns ? reachable : [node.nodeDns],
      searches: [...node.host.searches],
      options: [...node.host.options],
    };
  }
  const extra = pod.dnsConfig;
  const merged: ResolvConf = extra
    ? {
        nameservers: unique([...base.nameservers, ...(extra.nameservers ?? [])]),
        searches: unique([...base.searches, ...(extra.searches ?? [])]),
        options: mergeOptions(base.options, extra.options ?? []),
      }
    : base;
  return {
    ...merged,
    nameservers: merged.nameservers.slice(0, MAX_NAMESERVERS),
    searches: fitSearches(merged.searches),
  };
}

/** The pod's DNS domain when it has a subdomain: `<subdomain>.<ns>.svc.<domain>` (its FQDN's tail). */
export function podHostDomain(pod: { namespace: string; subdomain?: string }, domain: string): string | undefined {
  return pod.subdomain ? `${pod.subdomain}.${pod.namespace}.svc.${domain}` : undefined;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** Options by name, the pod's replacing the base's (kubelet's mergeDNSOptions), in first-seen order. */
function mergeOptions(base: string[], extra: { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const o of base) {
    const colon = o.indexOf(':');
    byName.set(colon === -1 ? o : o.slice(0, colon), colon === -1 ? '' : o.slice(colon + 1));
  }
  for (const o of extra) if (o.name) byName.set(o.name, o.value ?? '');
  return [...byName].map(([name, value]) => (value ? `${name}:${value}` : name));
}

/** The kubelet's formDNSSearchFitsLimits: at most 32 paths, none over 253 characters, the line within 2048. */
function fitSearches(searches: string[]): string[] {
  const fit = searches.slice(0, MAX_SEARCH_PATHS).filter((s) => s.length <= MAX_SEARCH_PATH_LENGTH);
  while (fit.join(' ').length > MAX_SEARCH_CHARS) fit.pop();
  return fit;
}
