/**
 * CronJob schedules as Kubernetes reads them: five fields (minute hour day-of-month month
 * day-of-week; day-of-month and day-of-week OR-ed, as in cron) or a macro (@yearly, @monthly,
 * @weekly, @daily, @hourly), in `timeZone` (an IANA name) or UTC. Parsed by croner.
 */
import { Cron } from 'croner';

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Why a schedule or time zone is not valid, or undefined when both are. */
export function scheduleProblem(
  schedule: string,
  timeZone?: string,
): { field: 'schedule' | 'timeZone'; message: string } | undefined {
  const trimmed = schedule.trim();
  if (trimmed.startsWith('@')) {
    if (!MACROS.has(trimmed)) return { field: 'schedule', message: `unknown macro ${JSON.stringify(trimmed)}` };
  } else if (trimmed.split(/\s+/).length !== 5) {
    return {
      field: 'schedule',
      message: 'must have 5 fields (minute hour day-of-month month day-of-week) or be a macro such as @hourly',
    };
  } else if (/TZ=/.test(trimmed)) {
    return { field: 'schedule', message: 'TZ= is not supported in the schedule: use spec.timeZone' };
  }
  if (timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      return { field: 'timeZone', message: `unknown time zone ${JSON.stringify(timeZone)}` };
    }
  }
  try {
    new Cron(trimmed, { paused: true, timezone: timeZone ?? 'UTC' }).nextRun(new Date(0));
  } catch (err) {
    return { field: 'schedule', message: (err as Error).message.replace(/^CronPattern: /, '') };
  }
  return undefined;
}

/** The first scheduled time strictly after `after` (ms), or undefined if there is none. */
export function nextScheduled(schedule: string, timeZone: string | undefined, after: number): number | undefined {
  const next = new Cron(schedule.trim(), { paused: true, timezone: timeZone ?? 'UTC' }).nextRun(new Date(after));
  return next ? next.getTime() : undefined;
}
