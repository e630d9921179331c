/**
 * resourceVersions without a shared counter, for stores whose instances cannot share one cheaply
 * (DynamoDB: a counter item takes at most 1,000 writes/s and costs a read per list). A hybrid
 * logical clock: the next version is the largest of now in microseconds, one more than the last
 * version this instance issued or saw, and one more than the object's stored version. So an
 * object's versions strictly increase (its writes are conditional on the stored one, so two
 * writers cannot both land the same version), one instance's writes increase in the order it makes
 * them, and a write made after reading a version is above it. Versions of different objects
 * written by different instances in the same microsecond may be equal, and instances' clocks may
 * disagree: versions order one object's history, and a single writer's, never a global one.
 * https://cse.buffalo.edu/tech-reports/2014-04.pdf (Kulkarni et al., logical physical clocks)
 *
 * Microseconds since 1970 stay below 2^53 (and 16 decimal digits) until the year 2255, so a
 * version is an exact JavaScript number, a DynamoDB number, and orders as a number or a BigInt.
 */
import type { Clock } from './types';

export class RevisionClock {
  private last = 0;

  constructor(private readonly clock: Clock) {}

  /** The version for a write over an object stored at `stored` (undefined: a create). */
  next(stored?: number): number {
    const version = Math.max(Math.floor(this.clock()) * 1000, this.last + 1, (stored ?? 0) + 1);
    this.last = version;
    return version;
  }

  /** Records a version read from the store, so this instance's next write is above it. */
  observe(version: number): void {
    if (Number.isFinite(version) && version > this.last) this.last = version;
  }
}
