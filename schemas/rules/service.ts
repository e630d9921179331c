/**
 * Rules for Services: port names (required when there are several, unique), target ports,
 * protocols ferry proxies, and the cluster IP fields (a well-formed IPv4 address, `None` or empty;
 * single-stack IPv4 only). Whether a chosen address is in the service range and free is the
 * allocator's to say (functions/cluster-ips.ts): the range is server configuration.
 */
import { duplicate, forbidden, invalid, notSupported, required } from '../causes';
import { parseIPv4 } from '../ipv4';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

/** Kubernetes' IsValidPortName (IANA_SVC_NAME): at most 15 characters, a letter, no `--`. */
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)$/;
const IP_FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;
const SINGLE_STACK = 'ferry runs single-stack IPv4 clusters';

export function checkService(spec: Rec, causes: StatusCause[]): void {
  // The node proxy spreads every connection over the endpoints; it keeps no per-client affinity yet.
  if (spec.sessionAffinity === 'ClientIP')
    causes.push(notSupported('spec.sessionAffinity', 'ClientIP', ['None (ferry has no session affinity yet)']));
  if (spec.sessionAffinityConfig !== undefined)
    causes.push(forbidden('spec.sessionAffinityConfig', 'ferry has no session affinity yet'));
  // Fields ferry's proxy and load balancers do not act on yet: refused rather than stored and ignored.
  for (const policy of ['externalTrafficPolicy', 'internalTrafficPolicy'] as const)
    if (spec[policy] === 'Local')
      causes.push(notSupported(`spec.${policy}`, 'Local', ['Cluster (ferry routes to endpoints on every node)']));
  if (Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0)
    causes.push(forbidden('spec.externalIPs', 'ferry does not route external IPs yet'));
  if (Array.isArray(spec.loadBalancerSourceRanges) && spec.loadBalancerSourceRanges.length > 0)
    causes.push(forbidden('spec.loadBalancerSourceRanges', 'ferry load balancers do not filter sources yet'));
  if (typeof spec.loadBalancerIP === 'string' && spec.loadBalancerIP !== '')
    causes.push(forbidden('spec.loadBalancerIP', 'ferry load balancers take the address their cloud gives'));
  const ports = Array.isArray(spec.ports) ? spec.ports.filter(isRec) : [];
  const names = new Set<unknown>();
  ports.forEach((p, i) => {
    if (ports.length > 1 && (p.name === undefined || p.name === ''))
      causes.push(required(`spec.ports[${i}].name`, 'a name is required when a Service has more than one port'));
    if (p.name !== undefined) {
      if (names.has(p.name)) causes.push(duplicate(`spec.ports[${i}].name`, p.name));
      names.add(p.name);
    }
    const target = p.targetPort;
    if (typeof target === 'string' && (target.length > 15 || !PORT_NAME.test(target)))
      causes.push(
        invalid(
          `spec.ports[${i}].targetPort`,
          target,
          'must be a port number or an IANA_SVC_NAME (at most 15 lower-case alphanumerics or -, with a letter)',
        ),
      );
    // The node's proxy relays TCP and UDP; accepting SCTP would store a port nothing serves.
    if (p.protocol === 'SCTP') causes.push(notSupported(`spec.ports[${i}].protocol`, 'SCTP', ['TCP', 'UDP']));
    // Unlike Kubernetes, a ClusterIP Service has node ports too: the node port is also what the
    // agent redirects the cluster IP to (functions/node-ports.ts, agent/proxy/).
  });
  checkClusterIPs(spec, causes);
}

/** One cluster IP field's value: empty (allocate), `None` (headless) or an IPv4 address. */
function checkAddress(field: string, value: unknown, type: unknown, causes: StatusCause[]): void {
  if (typeof value !== 'string' || value === '') return;
  if (value === 'None') {
    if (type === 'NodePort' || type === 'LoadBalancer')
      causes.push(invalid(field, value, `may not be set to 'None' for ${type} services`));
    return;
  }
  if (parseIPv4(value) !== undefined) return;
  causes.push(
    invalid(
      field,
      value,
      value.includes(':')
        ? `IPv6 cluster IPs are not supported: ${SINGLE_STACK}`
        : 'must be a valid IP address, (e.g. 10.9.8.7)',
    ),
  );
}

function checkClusterIPs(spec: Rec, causes: StatusCause[]): void {
  const { type, clusterIP } = spec;
  const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  const families = Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [];
  if (type === 'ExternalName') {
    // Kubernetes: an ExternalName Service is a DNS alias and has no address of its own.
    if (typeof clusterIP === 'string' && clusterIP !== '')
      causes.push(forbidden('spec.clusterIP', 'may not be set for ExternalName services'));
    if (ips.length > 0) causes.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (families.length > 0) causes.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined)
      causes.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    return;
  }
  checkAddress('spec.clusterIP', clusterIP, type, causes);
  ips.forEach((ip, i) => {
    // clusterIPs[0] copied from clusterIP (defaults.ts) would only repeat clusterIP's cause.
    if (i === 0) {
      if (ip !== clusterIP) checkAddress('spec.clusterIPs[0]', ip, type, causes);
    } else causes.push(invalid(`spec.clusterIPs[${i}]`, ip, `at most one cluster IP: ${SINGLE_STACK}`));
  });
  if (typeof clusterIP === 'string' && clusterIP !== '' && ips.length > 0 && ips[0] !== clusterIP)
    causes.push(invalid('spec.clusterIPs[0]', ips[0], 'must match spec.clusterIP'));
  families.forEach((f, i) => {
    if (f === 'IPv6' && i === 0) causes.push(invalid(`spec.ipFamilies[${i}]`, f, SINGLE_STACK));
    else if (f !== 'IPv4' && f !== 'IPv6') causes.push(notSupported(`spec.ipFamilies[${i}]`, f, ['IPv4']));
    else if (i > 0) causes.push(invalid(`spec.ipFamilies[${i}]`, f, `at most one IP family: ${SINGLE_STACK}`));
  });
  const policy = spec.ipFamilyPolicy;
  if (policy === undefined) return;
  if (!(IP_FAMILY_POLICIES as readonly unknown[]).includes(policy))
    causes.push(notSupported('spec.ipFamilyPolicy', policy, IP_FAMILY_POLICIES));
  // PreferDualStack is single-stack on a single-stack cluster, as in Kubernetes; Require is not.
  else if (policy === 'RequireDualStack') causes.push(invalid('spec.ipFamilyPolicy', policy, SINGLE_STACK));
}
