/**
 * The controllers' marker: one small record the manager writes after a full pass (only when its
 * content changed) and the scheduled check reads, so an idle cluster's scheduled pass costs one
 * read instead of a scan (issue 12 item 4). It is written by the manager alone, never by other
 * writers, and its kind is in IGNORED_KINDS, so writing it triggers nothing.
 *
 * It says when time-driven work is next due (`wakeAt`: a CronJob's next time, a Job's back-off, an
 * eviction delay, as controllers asked through `PassContext.wakeAt`), how many nodes there are,
 * and which nodes the last pass left Ready=Unknown: a heartbeat's expiry is a time event, not a
 * write, so the check also looks at the node Leases' renewals (listed, or as the manager saw them
 * written: heartbeats.ts) and runs a pass when a Lease went stale for a node not yet Unknown, or
 * was renewed for one that is.
 */
import { isAlreadyExists, isNotFound } from '../errors';
import type { Obj, StateStore } from '../store/types';
import { CONTROLLER_MARKER_KIND } from './triggers';

export const MARKER_NAME = 'controller-manager';

export interface MarkerSpec {
  /** When the last full pass started. */
  passAt: number;
  /** The earliest time a controller asked to look again; null when nothing is time-driven. */
  wakeAt: number | null;
  nodes: number;
  /** Nodes the last pass left Ready=Unknown. */
  unknownNodes: string[];
}

interface MarkerRecord extends Obj {
  spec: MarkerSpec;
}

export async function readMarker(store: StateStore): Promise<MarkerSpec | undefined> {
  return (await store.get<MarkerRecord>({ kind: CONTROLLER_MARKER_KIND, name: MARKER_NAME }))?.spec;
}

/** Writes the marker unconditionally: only the lease holder writes it. */
export async function writeMarker(store: StateStore, spec: MarkerSpec): Promise<void> {
  const record: MarkerRecord = {
    apiVersion: 'ferry.dev/v1',
    kind: CONTROLLER_MARKER_KIND,
    metadata: { name: MARKER_NAME },
    spec,
  };
  try {
    await store.update(record);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await store.create(record).catch(async (e) => {
      if (!isAlreadyExists(e)) throw e;
      await store.update(record);
    });
  }
}

/** Why a scheduled check must run a full pass, or undefined when it need not. `renewals`: node name -> ms. */
export function passReason(
  marker: MarkerSpec | undefined,
  renewals: ReadonlyMap<string, number> | undefined,
  now: number,
  graceMs: number,
  fullResyncMs: number,
): string | undefined {
  if (!marker) return 'no marker yet';
  if (marker.wakeAt !== null && now >= marker.wakeAt) return 'time-driven work is due';
  if (now - marker.passAt >= fullResyncMs) return 'full resync';
  const unknown = new Set(marker.unknownNodes);
  for (const [name, renewedAt] of renewals ?? []) {
    const stale = !(now - renewedAt <= graceMs);
    if (stale !== unknown.has(name)) return `node ${name} changed liveness`;
  }
  return undefined;
}
