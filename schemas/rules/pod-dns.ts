/**
 * A pod's DNS fields as Kubernetes validates them (pkg/apis/core/validation: validateDNSPolicy,
 * validatePodDNSConfig): `hostname` and `subdomain` are DNS-1123 labels; `dnsPolicy: None` needs a
 * `dnsConfig` with a nameserver; at most 3 nameservers, each an IP address; at most 32 search
 * paths and 2048 characters in the search line, each path a DNS subdomain (a trailing dot is
 * fine); every option named. The dnsPolicy values are the schema's enum.
 */
import { isIP } from 'node:net';
import { invalid, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from './names';

export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;

export function checkPodDns(spec: Rec, path: string, causes: StatusCause[]): void {
  for (const key of ['hostname', 'subdomain']) {
    const v = spec[key];
    if (typeof v === 'string' && (v.length > 63 || !DNS1123_LABEL.test(v)))
      causes.push(invalid(`${path}.${key}`, v, 'must be a lowercase RFC 1123 label (at most 63 characters)'));
  }
  const at = `${path}.dnsConfig`;
  const config = isRec(spec.dnsConfig) ? spec.dnsConfig : undefined;
  const nameservers = Array.isArray(config?.nameservers) ? (config.nameservers as unknown[]) : [];
  if (spec.dnsPolicy === 'None') {
    if (!config) {
      causes.push(required(at, 'must provide `dnsConfig` when `dnsPolicy` is None'));
      return;
    }
    if (nameservers.length === 0) {
      causes.push(required(`${at}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None'));
      return;
    }
  }
  if (!config) return;
  if (nameservers.length > MAX_DNS_NAMESERVERS)
    causes.push(
      invalid(`${at}.nameservers`, nameservers, `must not have more than ${MAX_DNS_NAMESERVERS} nameservers`),
    );
  nameservers.forEach((ns, i) => {
    if (typeof ns === 'string' && !isIP(ns))
      causes.push(
        invalid(`${at}.nameservers[${i}]`, ns, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
      );
  });
  const searches = Array.isArray(config.searches) ? (config.searches as unknown[]) : [];
  if (searches.length > MAX_DNS_SEARCH_PATHS)
    causes.push(invalid(`${at}.searches`, searches, `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths`));
  if (searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS)
    causes.push(
      invalid(
        `${at}.searches`,
        searches,
        `must not have more than ${MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list`,
      ),
    );
  searches.forEach((s, i) => {
    if (typeof s !== 'string') return;
    const name = s.replace(/\.$/, '');
    if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
      causes.push(invalid(`${at}.searches[${i}]`, s, 'must be a lowercase RFC 1123 subdomain'));
  });
  const options = Array.isArray(config.options) ? (config.options as unknown[]) : [];
  options.forEach((o, i) => {
    if (isRec(o) && (typeof o.name !== 'string' || o.name === ''))
      causes.push(required(`${at}.options[${i}]`, 'must not be empty'));
  });
}
