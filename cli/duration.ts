/** Go-style durations for flags such as `--ttl 1h30m` (plus `d` for days): seconds, or undefined if malformed. */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export function parseDurationSeconds(text: string): number | undefined {
  const re = /(\d+)(s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1);
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 && total > 0 ? total : undefined;
}
