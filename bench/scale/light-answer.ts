/**
 * What a light simulated node reads of a sync answer: the versions, the Lease renewal, the status
 * and poll intervals, and the pods when they moved. Nothing else of an answer changes what a node
 * sends next, and the rest can be large: a route change sends every node the routes of every
 * Service whose endpoints moved (hundreds of KB at 1,000 nodes), which the real agent parses for
 * its proxy and a simulator does not need. So an answer is read from its head (and tail) when the
 * server wrote it in its usual key order (versions, nodeStatusUpdateSeconds, leaseRenewedAt
 * first: functions/api/agent/sync.ts) without pods, and parsed whole otherwise: a server that
 * orders its keys differently costs the simulator more, never a wrong reading.
 */
import type { SyncResponse } from '../../schemas/agent-protocol';
import type { Answer } from './light-http';

export interface LightAnswer {
  /** `versions` as sent, to send back as it is. */
  versionsJson: string;
  versions: SyncResponse['versions'];
  leaseRenewedAt: number;
  nodeStatusUpdateSeconds: number;
  syncAfterSeconds?: number;
  pods?: Record<string, unknown>[];
}

/** How much of an answer's start holds its versions and intervals (versions are at most 5 x 64 characters). */
const HEAD_BYTES = 1024;
const NUMBER = '(\\d+(?:\\.\\d+)?)';
const HEAD = new RegExp(
  `^\\{"versions":(\\{[^{}]*\\}),"nodeStatusUpdateSeconds":${NUMBER},"leaseRenewedAt":${NUMBER}(,"pods":)?`,
);
const TAIL = new RegExp(`,"syncAfterSeconds":${NUMBER}\\}$`);

export function fromResponse(res: SyncResponse): LightAnswer {
  return {
    versionsJson: JSON.stringify(res.versions),
    versions: res.versions,
    leaseRenewedAt: res.leaseRenewedAt,
    nodeStatusUpdateSeconds: res.nodeStatusUpdateSeconds,
    ...(res.syncAfterSeconds !== undefined ? { syncAfterSeconds: res.syncAfterSeconds } : {}),
    ...(res.pods ? { pods: res.pods } : {}),
  };
}

/** Reads an answer; `parsed` says whether it had to be parsed whole. */
export function readSyncAnswer(answer: Answer): { answer: LightAnswer; parsed: boolean } {
  const head = HEAD.exec(answer.head(HEAD_BYTES));
  if (!head || head[4]) return { answer: fromResponse(JSON.parse(answer.text()) as SyncResponse), parsed: true };
  const versionsJson = head[1] as string;
  const after = TAIL.exec(answer.tail(64));
  return {
    answer: {
      versionsJson,
      versions: JSON.parse(versionsJson) as SyncResponse['versions'],
      nodeStatusUpdateSeconds: Number(head[2]),
      leaseRenewedAt: Number(head[3]),
      ...(after ? { syncAfterSeconds: Number(after[1]) } : {}),
    },
    parsed: false,
  };
}
