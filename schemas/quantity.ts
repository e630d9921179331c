/**
 * Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) as numbers: CPU in
 * millicores, everything else in base units (bytes for memory). The grammar is Kubernetes' own:
 * a signed decimal number, then either a binary SI suffix, a decimal SI suffix or a decimal
 * exponent (never two of them). Values are bounded as the scheduler can add them: at most
 * 2^63-1 base units (Kubernetes' int64 fast path) and, when not zero, at least 1n (its finest
 * scale) — `"1e309"`, `"99999999999999999999999Ei"` and `"1e-400"` are refused, not read as
 * Infinity or 0.
 * https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
 */
const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
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

const PATTERN = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([-+]?[0-9]+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;
/** Kubernetes' largest exact quantity (int64), in base units. */
export const MAX_QUANTITY = 2 ** 63 - 1;
/** Kubernetes' finest scale (nano). */
const MIN_NONZERO = 1e-9;

function baseUnits(q: string | number): number | undefined {
  if (typeof q === 'number') return q;
  const m = PATTERN.exec(q.trim());
  if (!m) return undefined;
  const exp = m[2] !== undefined ? 10 ** Number(m[2]) : 1;
  return Number(m[1]) * exp * (SUFFIX[m[3] ?? ''] as number);
}

/**
 * Why `q` is not a quantity a resource list may hold (undefined when it is): malformed, negative
 * (requests and limits are never negative: Kubernetes' ValidateNonnegativeQuantity), or outside
 * what can be represented.
 */
export function quantityProblem(q: unknown): string | undefined {
  if (typeof q !== 'number' && typeof q !== 'string') return 'must be a quantity such as 100m, 1, 128Mi';
  const v = baseUnits(q);
  if (v === undefined || Number.isNaN(v)) return 'must be a quantity such as 100m, 1, 128Mi';
  if (v < 0 || Object.is(v, -0)) return 'must be greater than or equal to 0';
  if (!Number.isFinite(v) || v > MAX_QUANTITY) return 'must be at most 2^63-1 (9223372036854775807) base units';
  if (v !== 0 && v < MIN_NONZERO) return 'must be zero or at least 1n (0.000000001)';
  if (v === 0 && typeof q === 'string' && /[1-9]/.test(q.replace(/[eE].*$/, ''))) {
    return 'must be zero or at least 1n (0.000000001)';
  }
  return undefined;
}

/** The quantity's value in base units; throws RangeError for a malformed quantity. */
export function parseQuantity(q: string | number): number {
  const v = baseUnits(q);
  if (v === undefined) throw new RangeError(`invalid quantity ${JSON.stringify(q)}`);
  return v;
}

export function isQuantity(q: unknown): boolean {
  return quantityProblem(q) === undefined;
}

/** CPU quantity in millicores (`250m` -> 250, `2` -> 2000). */
export function cpuMillis(q: string | number | undefined): number {
  return q === undefined ? 0 : Math.round(parseQuantity(q) * 1000);
}

/** Memory (or any byte quantity) in bytes. */
export function bytes(q: string | number | undefined): number {
  return q === undefined ? 0 : Math.round(parseQuantity(q));
}
