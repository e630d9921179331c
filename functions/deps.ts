/**
 * What every function core receives. Cores take `(deps, input)` and never read process.env, a
 * Lambda event or the wall clock directly: `functions/runtime/*` builds this object.
 */
import type { Logger } from './log';
import type { Clock, StateStore } from './store/types';

export interface Deps {
  store: StateStore;
  /** Milliseconds since the epoch; a fake clock in the simulation. */
  clock: Clock;
  log: Logger;
}
