/** Small statistics the benches share: the least-squares slope of a series (growth per round or per hour). */

/** Least-squares slope of ys over xs (xs default to 0, 1, 2, ...); 0 for fewer than two points. */
export function slope(ys: number[], xs: number[] = ys.map((_, i) => i)): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    num += dx * ((ys[i] as number) - my);
    den += dx ** 2;
  }
  return den === 0 ? 0 : num / den;
}
