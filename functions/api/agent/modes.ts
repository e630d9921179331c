/**
 * The two ways `/agent/v1/sync` is answered, chosen by the runtime (functions/runtime/local.ts and
 * lambda.ts pass one in `ApiConfig.agentSync`; the API core never reads the environment).
 *
 * Held (the local runtime, a long-lived process): a quiet sync waits up to the agent's
 * `waitSeconds` (at most MAX_SYNC_WAIT_SECONDS) for the node's desired state to move, so new work
 * starts at once, and a dropped held call marks the node Unknown within 2 s. Lease 10 s, as
 * node-lifecycle's default grace period.
 *
 * Polled (Lambda, billed per GB-second while a call is held): every sync answers at once and says
 * when to call again: every 20 s while the node's desired state is quiet (so a log request, which
 * waits 25 s, reaches it: quiet syncs fall on a slot of the node's own, cadence.ts), every 2 s for a
 * minute after it moved. The Lease is renewed when it would be older than 42 s at the next sync, so
 * every other quiet sync writes it (renewals 40 s apart, and never more than 42 s, busy or quiet),
 * and lasts 48 s: a renewal has 6 s of slack beyond the longest gap (8 s beyond the usual 40 s:
 * a failed sync's retries after 0.5, 1 and 2 s), and the Lambda controllers, which use the same
 * 48 s as node grace period, read a Lease whose renewal is overdue (older than 42 s) and wait for
 * its grace to run out, with a check at least every 6 s batch of the lease stream
 * (functions/runtime/lambda.ts, controllers/overdue.ts, serverless.yml): a node is NotReady 48 s
 * after its last renewal. Why polling and not a WebSocket push channel: README, "On AWS Lambda".
 */
import type { AgentSyncConfig } from '../types';

/** The longest a sync is held open; below the node grace period so a held call is also a heartbeat. */
export const MAX_SYNC_WAIT_SECONDS = 5;

export const HELD_SYNC: AgentSyncConfig = {
  hold: true,
  leaseDurationSeconds: 10,
  renewAfterSeconds: 3,
  quietSyncSeconds: 0,
  busySyncSeconds: 0,
  busyForSeconds: 0,
  // SQLite and memory lists are consistent: nothing to wait out.
  listSettleMs: 0,
  nodeStatusUpdateSeconds: 300,
};

export const POLLED_SYNC: AgentSyncConfig = {
  hold: false,
  leaseDurationSeconds: 48,
  renewAfterSeconds: 42,
  quietSyncSeconds: 20,
  busySyncSeconds: 2,
  busyForSeconds: 60,
  // DynamoDB's by-node index usually follows a write within a second.
  listSettleMs: 2_000,
  nodeStatusUpdateSeconds: 300,
};
