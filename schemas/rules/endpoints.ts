/**
 * Endpoints addresses as Kubernetes' ValidateNonSpecialIP checks them: an IP, and not
 * unspecified, loopback, link-local (169.254.0.0/16 holds the cloud metadata service,
 * fe80::/10) or multicast. Every node's proxy forwards a Service's traffic to these addresses,
 * so an Endpoints naming 169.254.169.254 or 127.0.0.1 would aim every node at itself.
 *
 * Every Endpoints written through the API is checked, whoever claims to manage it: ferry's own
 * endpoints controller (functions/controllers/endpoints.ts) writes through the store, not the
 * API, and under `ferry up` it lists node addresses that are loopback (127.0.1.N, the local
 * provider's nodes). A user's edit of such a controller-made Endpoints is refused; the controller
 * owns it and rewrites it from the Service's pods.
 */
import { invalid, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Why `ip` may not be an endpoint address; undefined when it may. */
export function specialIpProblem(ip: string): string | undefined {
  if (IPV4.test(ip)) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    if (ip === '0.0.0.0') return 'may not be unspecified (0.0.0.0)';
    if (a === 127) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
    if (a === 169 && b === 254) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
    if (a >= 224 && a <= 239) return 'may not be in the multicast range (224.0.0.0/4, ff00::/8)';
    return undefined;
  }
  const v6 = parseIpv6(ip);
  if (!v6) return 'must be a valid IP address';
  if (v6.every((g) => g === 0)) return 'may not be unspecified (::)';
  if (v6.slice(0, 7).every((g) => g === 0) && v6[7] === 1)
    return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  if (((v6[0] as number) & 0xffc0) === 0xfe80) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (((v6[0] as number) & 0xff00) === 0xff00) return 'may not be in the multicast range (224.0.0.0/4, ff00::/8)';
  // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address.
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const a = v6[6] as number;
    const b = v6[7] as number;
    return specialIpProblem(`${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`);
  }
  return undefined;
}

/** Eight 16-bit groups, or undefined when `ip` is not an IPv6 address (zones are refused too). */
function parseIpv6(ip: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(ip) || ip.length > 45) return undefined;
  let text = ip;
  // A trailing dotted quad (::ffff:10.0.0.1) is two groups.
  const dotted = /(^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const quad = dotted[2] as string;
    if (!IPV4.test(quad)) return undefined;
    const [a, b, c, d] = quad.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, text.length - quad.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (s: string) => (s === '' ? [] : s.split(':'));
  const head = group(halves[0] as string);
  const rest = halves.length === 2 ? group(halves[1] as string) : [];
  if ([...head, ...rest].some((p) => !/^[0-9a-fA-F]{1,4}$/.test(p))) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const hex = (p: string) => Number.parseInt(p, 16);
  return [...head.map(hex), ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest.map(hex)];
}

export function checkEndpoints(obj: Rec, causes: StatusCause[]): void {
  const subsets = Array.isArray(obj.subsets) ? obj.subsets : [];
  subsets.forEach((s, i) => {
    if (!isRec(s)) return;
    for (const list of ['addresses', 'notReadyAddresses']) {
      const addresses = Array.isArray(s[list]) ? (s[list] as unknown[]) : [];
      addresses.forEach((a, j) => {
        if (!isRec(a) || typeof a.ip !== 'string') return;
        const field = `subsets[${i}].${list}[${j}].ip`;
        if (a.ip === '') {
          causes.push(required(field));
          return;
        }
        const problem = specialIpProblem(a.ip);
        if (problem) causes.push(invalid(field, a.ip, problem));
      });
    }
  });
}
