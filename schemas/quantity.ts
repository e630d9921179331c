/**
 * Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `1G`) as numbers: CPU in millicores,
 * everything else in base units (bytes for memory).
 * https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
 */
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const PATTERN = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([-+]?[0-9]+))?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** The quantity's value in base units; throws RangeError for a malformed quantity. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = PATTERN.exec(q.trim());
  if (!m) throw new RangeError(`invalid quantity ${JSON.stringify(q)}`);
  const exp = m[2] ? 10 ** Number(m[2]) : 1;
  return Number(m[1]) * exp * (SUFFIX[m[3] ?? ''] as number);
}

export function isQuantity(q: unknown): boolean {
  return typeof q === 'number' || (typeof q === 'string' && PATTERN.test(q.trim()));
}

/** CPU quantity in millicores (`250m` -> 250, `2` -> 2000). */
export function cpuMillis(q: string | number | undefined): number {
  return q === undefined ? 0 : Math.round(parseQuantity(q) * 1000);
}

/** Memory (or any byte quantity) in bytes. */
export function bytes(q: string | number | undefined): number {
  return q === undefined ? 0 : Math.round(parseQuantity(q));
}
