/**
 * Rules for Ingress, IngressClass and NetworkPolicy that a schema cannot say, after Kubernetes'
 * pkg/apis/networking/validation/validation.go: hosts are DNS names (a leading `*.` wildcard
 * allowed, never an IP), Exact and Prefix paths are absolute and free of `//`, `/./`, `/../`
 * and encoded slashes, every path has a pathType, a backend is exactly one Service (a name and a
 * port number or name). `resource` backends are refused: ferry's ingress routes to Services only,
 * and an accepted field must be honoured.
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/networking/validation/validation.go
 */
import { forbidden, invalid, invalidMessage, notSupported, required } from '../causes';
import { FERRY_INGRESS_CONTROLLER, PATH_TYPES } from '../networking';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { DNS1123_SUBDOMAIN, validQualifiedName } from './names';
import { checkSelector } from './selector';

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];
/** IngressClass.spec.controller: a domain-prefixed path (`example.com/ingress`), at most 250 characters. */
const CONTROLLER =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*$/;

/** Kubernetes' host check: `*.foo.com` is a wildcard for one label; `foo.*.com` or `*` are not. */
export function hostProblem(host: string): string | undefined {
  if (host.length > 253) return 'must be no more than 253 characters';
  if (IPV4.test(host) || host.includes(':')) return 'must be a DNS name, not an IP address';
  if (host.includes('*')) {
    if (!host.startsWith('*.') || !DNS1123_SUBDOMAIN.test(host.slice(2)))
      return "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')";
    return undefined;
  }
  if (!DNS1123_SUBDOMAIN.test(host))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

function checkBackend(backend: unknown, path: string, causes: StatusCause[]): void {
  if (!isRec(backend)) return;
  if (backend.resource !== undefined) {
    causes.push(
      forbidden(
        `${path}.resource`,
        'resource backends are not supported: ferry routes Ingress traffic to Services only (use `service`)',
      ),
    );
    return;
  }
  if (!isRec(backend.service)) {
    causes.push(required(`${path}.service`, 'one backend (`service`) must be specified'));
    return;
  }
  const svc = backend.service;
  if (typeof svc.name === 'string' && !DNS1035_LABEL.test(svc.name))
    causes.push(
      invalid(
        `${path}.service.name`,
        svc.name,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
      ),
    );
  const port = isRec(svc.port) ? svc.port : undefined;
  if (!port || (port.name === undefined && port.number === undefined)) {
    causes.push(required(`${path}.service.port`, 'port name or number is required'));
    return;
  }
  if (port.name !== undefined && port.number !== undefined)
    causes.push(invalidMessage(`${path}.service.port`, 'Invalid value: cannot set both port name & port number'));
  else if (typeof port.name === 'string' && !PORT_NAME.test(port.name))
    causes.push(invalid(`${path}.service.port.name`, port.name, 'must be an IANA_SVC_NAME (at most 15 characters)'));
  else if (port.number === 0) causes.push(invalid(`${path}.service.port.number`, 0, 'must be between 1 and 65535'));
}

function checkPath(p: Rec, at: string, causes: StatusCause[]): void {
  if (p.pathType === undefined) {
    causes.push(required(`${at}.pathType`, 'pathType must be specified'));
  } else if (!PATH_TYPES.includes(p.pathType as (typeof PATH_TYPES)[number])) {
    causes.push(notSupported(`${at}.pathType`, p.pathType, PATH_TYPES));
  }
  const path = typeof p.path === 'string' ? p.path : '';
  // ImplementationSpecific is served as Prefix (README: Ingress), so it meets Prefix's rules too.
  if (!path.startsWith('/')) causes.push(invalid(`${at}.path`, p.path ?? '', 'must be an absolute path'));
  else {
    for (const bad of INVALID_PATH_SEQUENCES)
      if (path.includes(bad)) causes.push(invalid(`${at}.path`, path, `must not contain '${bad}'`));
    for (const bad of INVALID_PATH_SUFFIXES)
      if (path.endsWith(bad)) causes.push(invalid(`${at}.path`, path, `cannot end with '${bad}'`));
    // Control characters and spaces would let a path smuggle a header or a second request line.
    if ([...path].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f))
      causes.push(invalid(`${at}.path`, path, 'must not contain spaces or control characters'));
  }
  checkBackend(p.backend, `${at}.backend`, causes);
}

export function checkIngress(obj: Rec, causes: StatusCause[]): void {
  const spec = isRec(obj.spec) ? obj.spec : {};
  const rules = Array.isArray(spec.rules) ? spec.rules : [];
  if (spec.defaultBackend === undefined && rules.length === 0)
    causes.push(invalidMessage('spec', 'Invalid value: either `defaultBackend` or `rules` must be specified'));
  if (typeof spec.ingressClassName === 'string' && !DNS1123_SUBDOMAIN.test(spec.ingressClassName))
    causes.push(invalid('spec.ingressClassName', spec.ingressClassName, 'must be a lowercase RFC 1123 subdomain'));
  checkBackend(spec.defaultBackend, 'spec.defaultBackend', causes);
  rules.forEach((rule, i) => {
    if (!isRec(rule)) return;
    const at = `spec.rules[${i}]`;
    if (typeof rule.host === 'string' && rule.host !== '') {
      const problem = hostProblem(rule.host);
      if (problem) causes.push(invalid(`${at}.host`, rule.host, problem));
    }
    if (!isRec(rule.http)) return;
    const paths = Array.isArray(rule.http.paths) ? rule.http.paths : [];
    if (paths.length === 0) causes.push(required(`${at}.http.paths`));
    paths.forEach((p, j) => {
      if (isRec(p)) checkPath(p, `${at}.http.paths[${j}]`, causes);
    });
  });
  const tls = Array.isArray(spec.tls) ? spec.tls : [];
  tls.forEach((t, i) => {
    if (!isRec(t)) return;
    (Array.isArray(t.hosts) ? t.hosts : []).forEach((h, j) => {
      const problem = typeof h === 'string' ? hostProblem(h) : undefined;
      if (problem) causes.push(invalid(`spec.tls[${i}].hosts[${j}]`, h, problem));
    });
    if (typeof t.secretName === 'string' && t.secretName !== '' && !DNS1123_SUBDOMAIN.test(t.secretName))
      causes.push(invalid(`spec.tls[${i}].secretName`, t.secretName, 'must be a lowercase RFC 1123 subdomain'));
  });
}

export function checkIngressClass(obj: Rec, causes: StatusCause[]): void {
  const spec = isRec(obj.spec) ? obj.spec : {};
  if (typeof spec.controller !== 'string' || spec.controller === '') causes.push(required('spec.controller'));
  else if (!CONTROLLER.test(spec.controller))
    causes.push(invalid('spec.controller', spec.controller, 'must be a domain-prefixed path (such as "acme.io/foo")'));
  const params = spec.parameters;
  if (!isRec(params)) return;
  // ferry's own controller takes no parameters; another controller's class keeps them for it.
  if (spec.controller === FERRY_INGRESS_CONTROLLER)
    causes.push(forbidden('spec.parameters', `the ${FERRY_INGRESS_CONTROLLER} controller takes no parameters`));
  const scope = params.scope ?? 'Cluster';
  if (scope === 'Namespace' && (typeof params.namespace !== 'string' || params.namespace === ''))
    causes.push(required('spec.parameters.namespace', '`parameters.scope` is set to "Namespace"'));
  if (scope === 'Cluster' && params.namespace !== undefined)
    causes.push(forbidden('spec.parameters.namespace', '`parameters.scope` is set to "Cluster"'));
}

export function checkNetworkPolicy(obj: Rec, causes: StatusCause[]): void {
  const spec = isRec(obj.spec) ? obj.spec : {};
  checkSelector(spec.podSelector, 'spec.podSelector', causes);
  for (const dir of ['ingress', 'egress'] as const) {
    const list = Array.isArray(spec[dir]) ? spec[dir] : [];
    list.forEach((rule, i) => {
      if (!isRec(rule)) return;
      const peers = rule[dir === 'ingress' ? 'from' : 'to'];
      (Array.isArray(peers) ? peers : []).forEach((peer, j) => {
        if (!isRec(peer)) return;
        const at = `spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}[${j}]`;
        const set = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k] !== undefined);
        if (set.length === 0) causes.push(required(at, 'must specify a peer'));
        if (peer.ipBlock !== undefined && set.length > 1)
          causes.push(forbidden(at, 'may not specify more than 1 peer type when `ipBlock` is set'));
        checkSelector(peer.podSelector, `${at}.podSelector`, causes);
        checkSelector(peer.namespaceSelector, `${at}.namespaceSelector`, causes);
      });
      (Array.isArray(rule.ports) ? rule.ports : []).forEach((p, j) => {
        if (!isRec(p)) return;
        const at = `spec.${dir}[${i}].ports[${j}]`;
        if (p.endPort !== undefined && (typeof p.port !== 'number' || (p.endPort as number) < p.port))
          causes.push(invalid(`${at}.endPort`, p.endPort, 'must be a number not less than `port`'));
      });
    });
  }
}

/** Annotations an ingress-nginx manifest carries that ferry's ingress does not act on. */
export function ignoredIngressAnnotations(obj: Rec): string[] {
  const meta = isRec(obj.metadata) ? obj.metadata : {};
  const annotations = isRec(meta.annotations) ? Object.keys(meta.annotations) : [];
  return annotations.filter((k) => validQualifiedName(k) && k.startsWith('nginx.ingress.kubernetes.io/')).sort();
}
