/**
 * `/agent/v1/sync` with a body that streams beats (schemas/agent-beats.ts): the sync runs as any
 * (sync.ts), its hold counted alive by the beats (beats.ts). When it holds, the answer's head goes
 * out at once with SYNC_BEATS_HEADER honoured (the agent's proof that its body got through: a
 * proxy that buffers bodies would have kept the first line from the server) and the answer follows
 * as the body when the hold ends (the node's desired state moved, the hold ran out, or the agent
 * sent a wake in the stream). A sync that answers at once answers as any, with the header.
 */
import { BEATS_HONOURED, SYNC_BEATS_HEADER } from '../../../schemas/agent-beats';
import type { SyncRequest, SyncResponse } from '../../../schemas/agent-protocol';
import type { ApiDeps, ApiResponse, BodyTail } from '../types';
import { syncResponseJson } from './answer-json';
import { countBeats } from './beats';
import { releaseHeldSyncs } from './desired';
import { HELD_SYNC } from './modes';
import { syncNode } from './sync';

export async function beatSync(
  deps: ApiDeps,
  nodeName: string,
  req: SyncRequest,
  tail: BodyTail,
  signal: AbortSignal | undefined,
): Promise<ApiResponse> {
  const mode = deps.config.agentSync ?? HELD_SYNC;
  const headers = { 'content-type': 'application/json', [SYNC_BEATS_HEADER]: BEATS_HONOURED };
  let holding!: () => void;
  const held = new Promise<'held'>((resolve) => {
    holding = () => resolve('held');
  });
  // A wake in the stream is the agent's /agent/v1/wake on this connection: this hold answers now
  // (or, not held yet, as soon as it holds).
  const counted = countBeats(
    deps,
    mode,
    nodeName,
    tail,
    () => holding(),
    () => releaseHeldSyncs(deps, nodeName),
  );
  const answer = syncNode(deps, nodeName, req, signal, counted.beats).finally(counted.close);
  const first = await Promise.race([answer, held]);
  if (first !== 'held') return { status: 200, headers, body: syncResponseJson(first) };
  return {
    status: 200,
    headers,
    body: '',
    stream: async (write) => {
      let res: SyncResponse;
      try {
        res = await answer;
      } catch (err) {
        // The head is out: an empty body is what the agent takes as a failed sync.
        deps.log.warn('a held sync with beats failed after it held', { node: nodeName, error: String(err) });
        return;
      }
      write(syncResponseJson(res));
    },
  };
}
