/**
 * The cluster's DNS domain (the kubelet's `--cluster-domain`, `cluster.local` by default): what
 * every node's DNS server answers under and pods search. One rule for everyone who takes it (the
 * server's setting, a cloud node's user-data), the same the agent applies at its start.
 */

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

const DOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `text` is a domain the agent takes: lower-case DNS labels, at most 200 characters. */
export function isClusterDomain(text: string): boolean {
  return text.length <= 200 && DOMAIN.test(text);
}

/** The domain from a setting (a trailing dot dropped, any case); throws saying why when it is not one. */
export function parseClusterDomain(text: string): string {
  const domain = text.trim().toLowerCase().replace(/\.$/, '');
  if (!isClusterDomain(domain))
    throw new Error(`cluster domain "${text}" must be a DNS domain such as ${DEFAULT_CLUSTER_DOMAIN}`);
  return domain;
}
