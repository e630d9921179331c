/**
 * The cluster's names, built from the service routes the agent holds, as CoreDNS's kubernetes
 * plugin serves them (https://github.com/kubernetes/dns/blob/master/docs/specification.md):
 *
 * - `<svc>.<ns>.svc.<domain>`: A with the cluster IP; for a headless Service (`clusterIP: None`)
 *   one A per pod; for an ExternalName Service a CNAME to the external name.
 * - `<pod>.<svc>.<ns>.svc.<domain>` for each pod of a headless Service: `<pod>` is the pod's
 *   hostname when its subdomain is the Service's name (StatefulSet pods), else its IP with dashes.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: SRV for each named port, pointing at the Service
 *   name (or at each pod's name for a headless Service).
 * - `<a-b-c-d>.<ns>.pod.<domain>`: A with that address (CoreDNS's `pods insecure`, kubeadm's default).
 *
 * Every name in between (`<ns>.svc.<domain>`, `svc.<domain>`, the domain) exists without records,
 * so it answers NODATA, not NXDOMAIN. Names are lower case without the trailing dot.
 *
 * Reverse names (`<d.c.b.a>.in-addr.arpa`, PTR), as CoreDNS's `serviceRecordForIP`: a cluster IP
 * names its Service; else a ready pod of a headless Service names the pod's record under each such
 * Service (`hostname.svc...` or `a-b-c-d.svc...`). Any other address is not ours (forwarded).
 */
import { isIPv4 } from 'node:net';
import type { ServiceRoute } from '../../schemas/agent-protocol';

export interface SrvRecord {
  port: number;
  target: string;
}

export interface NameRecords {
  a: string[];
  cname?: string;
  srv: SrvRecord[];
}

export type Lookup =
  | { kind: 'records'; records: NameRecords }
  /** The name exists (it has records of other types, or names below it): NODATA. */
  | { kind: 'empty' }
  | { kind: 'nxdomain' }
  /** Not under the cluster domain: forward it. */
  | { kind: 'outside' };

const POD_NAME = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.pod$/;

export class ClusterZone {
  private readonly names = new Map<string, NameRecords>();
  /** Cluster IP -> its Service's name (one: no two Services share a cluster IP). */
  private readonly serviceByIP = new Map<string, string>();
  /** A headless Service's pod IP -> its names, one per Service that lists the pod. */
  private readonly podsByIP = new Map<string, string[]>();
  /** Names that exist only because names below them do. */
  private readonly between = new Set<string>();

  constructor(
    routes: readonly ServiceRoute[],
    readonly domain: string,
  ) {
    this.between.add(domain);
    this.between.add(`svc.${domain}`);
    this.between.add(`pod.${domain}`);
    for (const route of routes) this.addRoute(route);
    for (const name of this.names.keys()) {
      for (
        let at = name.indexOf('.');
        at !== -1 && name.length - at - 1 > domain.length;
        at = name.indexOf('.', at + 1)
      )
        this.between.add(name.slice(at + 1));
    }
  }

  /** Whether `name` is the cluster domain or under it. */
  covers(name: string): boolean {
    return name === this.domain || name.endsWith(`.${this.domain}`);
  }

  lookup(name: string): Lookup {
    if (!this.covers(name)) return { kind: 'outside' };
    const records = this.names.get(name);
    if (records) return { kind: 'records', records };
    const relative = name.slice(0, -this.domain.length - 1);
    const octets = POD_NAME.exec(relative)?.slice(1, 5);
    if (octets?.every((o) => Number(o) <= 255))
      return { kind: 'records', records: { a: [octets.map(Number).join('.')], srv: [] } };
    return this.between.has(name) ? { kind: 'empty' } : { kind: 'nxdomain' };
  }

  /** The PTR targets of an IPv4 address: its Service when it is a cluster IP, else its pod names. */
  reverse(ip: string): readonly string[] {
    const service = this.serviceByIP.get(ip);
    return service !== undefined ? [service] : (this.podsByIP.get(ip) ?? []);
  }

  private at(name: string): NameRecords {
    let r = this.names.get(name);
    if (!r) {
      r = { a: [], srv: [] };
      this.names.set(name, r);
    }
    return r;
  }

  private addRoute(route: ServiceRoute): void {
    const base = `${route.name}.${route.namespace}.svc.${this.domain}`.toLowerCase();
    const service = this.at(base);
    if (route.externalName) {
      service.cname = route.externalName.toLowerCase().replace(/\.$/, '');
      return;
    }
    const named = route.ports.filter((p) => p.name);
    const srvName = (p: { name?: string; protocol: string }) =>
      `_${p.name}._${p.protocol.toLowerCase()}.${base}`.toLowerCase();
    if (route.clusterIP === 'None') {
      for (const pod of route.pods ?? []) {
        if (!isIPv4(pod.ip)) continue;
        service.a.push(pod.ip);
        const label = pod.hostname && pod.subdomain === route.name ? pod.hostname : pod.ip.replace(/\./g, '-');
        const podName = `${label}.${base}`.toLowerCase();
        this.at(podName).a.push(pod.ip);
        const names = this.podsByIP.get(pod.ip) ?? [];
        if (!names.includes(podName)) names.push(podName);
        this.podsByIP.set(pod.ip, names);
        // Headless: the target port is where the pod listens; ferry's routes carry the Service port.
        for (const p of named) this.at(srvName(p)).srv.push({ port: p.port, target: podName });
      }
      return;
    }
    if (route.clusterIP && isIPv4(route.clusterIP)) {
      service.a.push(route.clusterIP);
      if (!this.serviceByIP.has(route.clusterIP)) this.serviceByIP.set(route.clusterIP, base);
      for (const p of named) this.at(srvName(p)).srv.push({ port: p.port, target: base });
    }
  }
}
