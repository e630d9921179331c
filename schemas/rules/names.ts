/** Name syntax shared by every rule: DNS-1123 labels and subdomains, qualified names, label values. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kubernetes' IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function validQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const [prefix, name] = slash === -1 ? ['', key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && LABEL_NAME.test(name);
}

/** Kubernetes' IsValidLabelValue. */
export function validLabelValue(v: string): boolean {
  return v.length <= 63 && LABEL_VALUE.test(v);
}
