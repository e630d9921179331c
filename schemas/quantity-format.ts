/**
 * Quantities written back out, as Kubernetes' resource.Quantity prints them in the forms ferry
 * produces: a milli value (an HPA's `averageValue`: `250m`, or `134217728` when whole), CPU
 * usage in nanocores (`12345678n`, what metrics-server reports) and memory in kibibytes (`1024Ki`).
 */

/** A value counted in thousandths: whole values print plain, others with `m`. */
export function milliQuantity(milli: number): string {
  const m = Math.round(milli);
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** CPU in nanocores. */
export function nanoCpu(nanocores: number): string {
  return `${Math.max(0, Math.round(nanocores))}n`;
}

/** Bytes as whole kibibytes (metrics-server rounds memory the same way). */
export function kibiBytes(bytes: number): string {
  return `${Math.max(0, Math.round(bytes / 1024))}Ki`;
}
