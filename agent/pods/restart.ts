/**
 * Restart decisions, as the kubelet makes them: restartPolicy Always restarts every exit,
 * OnFailure only non-zero exits, Never none; restarts back off exponentially (CrashLoopBackOff),
 * and the back-off resets once a container has run for ten minutes.
 */
import { crashLoopDelayMs } from '../backoff';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface ExitInfo {
  exitCode: number;
  /** How long the container ran before it exited. */
  ranForMs: number;
}

export function shouldRestart(policy: RestartPolicy, exit: ExitInfo): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exit.exitCode !== 0;
  return false;
}

const BACKOFF_RESET_MS = 10 * 60_000;

/** Delay before the next restart given how many times it crashed in a row. */
export function restartDelayMs(consecutiveCrashes: number, exit: ExitInfo, baseMs = 10_000, maxMs = 300_000): number {
  if (exit.ranForMs >= BACKOFF_RESET_MS) return 0;
  // The first restart is immediate, as in Kubernetes; back-off starts with the second.
  return crashLoopDelayMs(consecutiveCrashes - 1, baseMs, maxMs);
}
