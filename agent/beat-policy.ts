/**
 * Whether the agent's next held sync streams beats (schemas/agent-beats.ts): only while the
 * server's last answer offered them, and not for BEATS_RETRY_MS after a beat sync went unhonoured
 * (an old server, a proxy that buffers request bodies): meanwhile plain 5 s holds, as before
 * beats. Retried after that, since a proxy can be reconfigured and a server upgraded.
 */
import type { SyncBeatsOffer } from '../schemas/agent-beats';
import type { AgentLogger } from './log';

export const BEATS_RETRY_MS = 10 * 60_000;

export class BeatPolicy {
  private offer: SyncBeatsOffer | undefined;
  private refusedUntil = 0;

  /** The last answer's offer (absent: an old server, or a polled one). */
  offered(offer: SyncBeatsOffer | undefined): void {
    this.offer = offer;
  }

  /** The offer to stream beats with on a sync held `waitSeconds` (0: not held), or none. */
  use(waitSeconds: number | undefined, now: number): SyncBeatsOffer | undefined {
    if (!waitSeconds || !this.offer || now < this.refusedUntil) return undefined;
    return this.offer;
  }

  /** How long to ask a quiet sync to be held: the offer's hold when beats are in use, else the configured wait. */
  holdSeconds(configured: number, now: number): number {
    const offer = this.use(configured, now);
    return offer ? offer.holdSeconds : configured;
  }

  /** A beat sync went unhonoured: plain holds for a while. */
  refused(now: number, log: AgentLogger, err: Error): void {
    log.warn('a sync streaming beats went unhonoured; plain holds for a while', { error: err.message });
    this.refusedUntil = now + BEATS_RETRY_MS;
  }
}
