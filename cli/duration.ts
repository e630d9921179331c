import { UsageError } from './errors';

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

/** Go's time.Duration text for whole seconds: 300000 ms -> `5m0s`, 3_600_000 -> `1h0m0s`. */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** A `--timeout` flag: a duration, or `0` for no limit (kubectl's convention). Undefined = no limit. */
export function parseTimeoutMs(text: string | undefined, flag = '--timeout'): number | undefined {
  if (text === undefined || text === '0' || text === '0s') return undefined;
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined) throw new UsageError(`invalid ${flag} "${text}": use a duration like 90s, 5m or 1h30m`);
  return seconds * 1000;
}
