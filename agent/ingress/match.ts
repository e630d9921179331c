/**
 * Which Service an HTTP request goes to, as the Ingress spec says
 * (https://kubernetes.io/docs/concepts/services-networking/ingress/#examples):
 *
 * - Hosts: a rule for the exact host wins over a wildcard rule (`*.foo.com` covers one label:
 *   `bar.foo.com`, not `foo.com` nor `baz.bar.foo.com`), which wins over the rules without a host.
 *   Like ingress-nginx, the most specific host that has rules is the one whose paths are tried.
 * - Paths: the longest matching path wins; at equal length Exact wins over Prefix. Prefix matches
 *   whole path elements (`/foo` matches `/foo`, `/foo/` and `/foo/bar`, never `/foobar`), and a
 *   trailing slash on the rule is ignored. At a tie, the oldest Ingress' rule (first in the table).
 * - Nothing matched: the `defaultBackend` of an Ingress with rules for that host, else of any
 *   Ingress (the oldest), else nothing (the server answers 404).
 *
 * Pure and allocation-light: the table is compiled once per update, not per request.
 */
import type { IngressServiceRef, IngressTable } from '../../schemas/agent-protocol';

export interface Match {
  backend: IngressServiceRef;
  /** `namespace/name` of the Ingress whose rule (or default backend) matched. */
  ingress: string;
}

interface CompiledRule {
  ingress: string;
  exact: boolean;
  /** The rule's path; for Prefix without its trailing slashes ('' for `/`). */
  path: string;
  backend: IngressServiceRef;
}

export interface CompiledTable {
  byHost: Map<string, CompiledRule[]>;
  /** Wildcards by the suffix after `*` (`.foo.com`). */
  byWildcard: Map<string, CompiledRule[]>;
  anyHost: CompiledRule[];
  defaults: IngressTable['defaults'];
}

/** Longest first, Exact before Prefix at the same length; sort is stable, so table order breaks ties. */
function order(rules: CompiledRule[]): CompiledRule[] {
  return rules.sort((a, b) => b.path.length - a.path.length || Number(b.exact) - Number(a.exact));
}

export function compile(table: IngressTable): CompiledTable {
  const byHost = new Map<string, CompiledRule[]>();
  const byWildcard = new Map<string, CompiledRule[]>();
  const anyHost: CompiledRule[] = [];
  for (const r of table.rules) {
    const exact = r.pathType === 'Exact';
    const rule: CompiledRule = {
      ingress: r.ingress,
      exact,
      path: exact ? r.path : r.path.replace(/\/+$/, ''),
      backend: r.backend,
    };
    const host = r.host?.toLowerCase();
    if (!host) anyHost.push(rule);
    else if (host.startsWith('*.')) push(byWildcard, host.slice(1), rule);
    else push(byHost, host, rule);
  }
  for (const list of [...byHost.values(), ...byWildcard.values(), anyHost]) order(list);
  return { byHost, byWildcard, anyHost, defaults: table.defaults };
}

function push(map: Map<string, CompiledRule[]>, key: string, rule: CompiledRule): void {
  const list = map.get(key);
  if (list) list.push(rule);
  else map.set(key, [rule]);
}

function pathMatches(rule: CompiledRule, path: string): boolean {
  if (rule.exact) return path === rule.path;
  if (rule.path === '') return true;
  return path.startsWith(rule.path) && (path.length === rule.path.length || path[rule.path.length] === '/');
}

/**
 * The request's host as rules name it: lower case, without a port or a trailing dot; undefined
 * when it is not a DNS name (an IP, a bracketed IPv6 address, garbage), which only host-less
 * rules and default backends can match.
 */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (!raw || raw.length > 260) return undefined;
  let host = raw.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon !== -1) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) return undefined;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0 || host.length > 253) return undefined;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(host)) return undefined;
  if (/^\d+(\.\d+){3}$/.test(host)) return undefined;
  return host;
}

/** The path of a request-target (origin form `/a?b`, or absolute form `http://h/a`), without its query. */
export function requestPath(target: string): string {
  let path = target;
  if (!path.startsWith('/')) {
    const scheme = path.indexOf('://');
    if (scheme === -1) return '/';
    const slash = path.indexOf('/', scheme + 3);
    path = slash === -1 ? '/' : path.slice(slash);
  }
  const q = path.search(/[?#]/);
  return q === -1 ? path : path.slice(0, q);
}

/** The host tier whose rules apply: exact host, else the one-label wildcard, else host-less. */
function tierFor(table: CompiledTable, host: string | undefined): { rules: CompiledRule[]; key: string } {
  if (host) {
    const exact = table.byHost.get(host);
    if (exact) return { rules: exact, key: host };
    const dot = host.indexOf('.');
    if (dot > 0) {
      const suffix = host.slice(dot);
      const wild = table.byWildcard.get(suffix);
      if (wild) return { rules: wild, key: `*${suffix}` };
    }
  }
  return { rules: table.anyHost, key: '' };
}

export function match(table: CompiledTable, rawHost: string | undefined, path: string): Match | undefined {
  const tier = tierFor(table, normalizeHost(rawHost));
  for (const rule of tier.rules) if (pathMatches(rule, path)) return { backend: rule.backend, ingress: rule.ingress };
  const own = table.defaults.find((d) => d.hosts.includes(tier.key));
  const fallback = own ?? table.defaults[0];
  return fallback ? { backend: fallback.backend, ingress: fallback.ingress } : undefined;
}
