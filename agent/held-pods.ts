/**
 * The pods the agent holds, each with the version the server named for it, and how an answer's
 * pods section changes them: a full list replaces them, a diff (`podsDiff`) adds and replaces the
 * pods it carries and drops the versions it removes (schemas/agent-protocol.ts). The versions go
 * back in the next sync (`heldPods`) only while every pod held has one from the server: an older
 * server names none (and refuses the field), so the agent is then sent its pods whole, as before.
 */
import { MAX_HELD_PODS, type SyncResponse } from '../schemas/agent-protocol';

interface Held {
  pod: Record<string, unknown>;
  version: string | undefined;
}

function uidOf(pod: Record<string, unknown>): string {
  return String((pod.metadata as { uid?: unknown } | undefined)?.uid);
}

export class HeldPods {
  private readonly byUid = new Map<string, Held>();
  /** Whether the server named a version for every pod held (it diffs). */
  private named = false;

  /** The pods held, as the control plane last said. */
  list(): Record<string, unknown>[] {
    return [...this.byUid.values()].map((h) => h.pod);
  }

  /** The versions to name in the next sync, or undefined: then the server sends every pod. */
  versions(): string[] | undefined {
    if (!this.named || this.byUid.size > MAX_HELD_PODS) return undefined;
    return [...this.byUid.values()].map((h) => h.version as string);
  }

  /** Takes in the answer's pods section; false when it carries none. */
  take(res: SyncResponse): boolean {
    if (res.pods) {
      const versions = res.podVersions;
      this.named = versions !== undefined && versions.length === res.pods.length;
      this.byUid.clear();
      res.pods.forEach((pod, i) => {
        this.byUid.set(uidOf(pod), { pod, version: this.named ? versions?.[i] : undefined });
      });
      return true;
    }
    const diff = res.podsDiff;
    if (!diff) return false;
    // Added and changed first, then what is removed: a changed pod keeps its uid under its new
    // version, so removing its old version afterwards must not drop it.
    diff.pods.forEach((pod, i) => {
      const version = diff.versions[i];
      this.byUid.set(uidOf(pod), { pod, version: typeof version === 'string' ? version : undefined });
    });
    const removed = new Set(diff.removed);
    for (const [uid, held] of this.byUid)
      if (held.version !== undefined && removed.has(held.version)) this.byUid.delete(uid);
    this.named = [...this.byUid.values()].every((h) => h.version !== undefined);
    return true;
  }

  /** The server refused a sync (an older one refuses `heldPods`): name no versions until one names them again. */
  unname(): void {
    this.named = false;
  }
}
