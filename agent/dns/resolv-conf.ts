/**
 * resolv.conf as glibc reads it (resolv.conf(5)): `nameserver`, `search` (or the older `domain`,
 * the last of the two wins), `options`; comments start with `#` or `;`. Parsed for the node's own
 * resolvers (what the node DNS server forwards to, and what `dnsPolicy: Default` pods get) and
 * rendered for each pod's /etc/resolv.conf, in the kubelet's layout.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export const EMPTY_RESOLV_CONF: ResolvConf = { nameservers: [], searches: [], options: [] };

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0] && isIP(values[0])) out.nameservers.push(values[0]);
    else if (key === 'search' || key === 'domain') out.searches = values.filter((v) => v !== '.');
    else if (key === 'options') out.options.push(...values);
  }
  return out;
}

export function renderResolvConf(conf: ResolvConf): string {
  const lines = conf.nameservers.map((n) => `nameserver ${n}`);
  if (conf.searches.length) lines.push(`search ${conf.searches.join(' ')}`);
  if (conf.options.length) lines.push(`options ${conf.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** 127.0.0.0/8 and ::1: reachable from the node itself, not from a container on the pod network. */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * The node's resolv.conf, read again when its modification time changes (DHCP may rewrite it),
 * at most once a `checkEveryMs`. A missing or unreadable file reads as empty.
 */
export class HostResolvConf {
  private conf: ResolvConf = EMPTY_RESOLV_CONF;
  private mtimeMs = -1;
  private checkedAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly checkEveryMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  get(): ResolvConf {
    if (this.now() - this.checkedAt < this.checkEveryMs) return this.conf;
    this.checkedAt = this.now();
    try {
      const mtimeMs = statSync(this.path).mtimeMs;
      if (mtimeMs !== this.mtimeMs) {
        this.conf = parseResolvConf(readFileSync(this.path, 'utf8'));
        this.mtimeMs = mtimeMs;
      }
    } catch {
      this.conf = EMPTY_RESOLV_CONF;
      this.mtimeMs = -1;
    }
    return this.conf;
  }
}
