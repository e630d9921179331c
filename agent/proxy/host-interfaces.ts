/**
 * Which of this machine's interfaces holds an address, and an interface's subnet, from Node's own
 * list (getifaddrs: only interfaces that are up and running, so a bridge with no container yet is
 * absent). Local mode's cluster IP rules use them to tell a pod of another local node, on a bridge
 * of this machine, from one that is not here.
 */
import { networkInterfaces } from 'node:os';
import { isIPv4 } from './nat-rules';

const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** The IPv4 interface of this machine (by name) whose subnet holds `ip`, from the kernel's own list. */
export function interfaceHolding(ip: string, interfaces = networkInterfaces()): string | undefined {
  if (!isIPv4(ip)) return undefined;
  const at = toInt(ip);
  for (const [name, addrs] of Object.entries(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !isIPv4(a.address) || !isIPv4(a.netmask)) continue;
      const mask = toInt(a.netmask);
      if (mask === 0xffffffff) continue;
      const net = toInt(a.address);
      // Unsigned AND of both with the mask: same network prefix.
      if ((at & mask) >>> 0 === (net & mask) >>> 0) return name;
    }
  }
  return undefined;
}

/** The subnet (CIDR, network address) of an interface of this machine, e.g. `172.20.0.0/16`. */
export function subnetOf(name: string, interfaces = networkInterfaces()): string | undefined {
  const a = interfaces[name]?.find((x) => x.family === 'IPv4' && isIPv4(x.address) && isIPv4(x.netmask));
  if (!a) return undefined;
  const mask = toInt(a.netmask);
  const net = (toInt(a.address) & mask) >>> 0;
  const bits = (mask >>> 0).toString(2).replace(/0+$/, '').length;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${bits}`;
}
