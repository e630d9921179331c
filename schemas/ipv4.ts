/**
 * IPv4 addresses as numbers: what cluster IP validation (rules/service.ts) and allocation
 * (functions/cluster-ips.ts) share. Leading zeros are refused: `010.0.0.1` is octal to some parsers
 * and decimal to others, so Kubernetes (since 1.20's ParseIPSloppy warnings) stopped accepting it.
 */

/** `a.b.c.d` as an unsigned 32-bit number; undefined when the text is not a plain dotted quad. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256 + o, 0);
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
