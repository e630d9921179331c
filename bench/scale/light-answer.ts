/**
 * What a light simulated node reads of a sync answer: the versions, the Lease renewal, the status
 * and poll intervals, and the pods when they moved. Nothing else of an answer changes what a node
 * sends next, and the rest can be large: a route change sends every node the routes of every
 * Service whose endpoints moved (hundreds of KB at 1,000 nodes), which the real agent parses for
 * its proxy and a simulator does not need. So an answer is read from its head (and tail) when the
 * server wrote it in its usual key order (versions, nodeStatusUpdateSeconds, leaseRenewedAt and
 * reconnectSpreadSeconds and beats first: functions/api/agent/sync.ts), the pods, which come next when they moved
 * (a full list and its versions, or a diff), cut out of the bytes by matching brackets and parsed alone; any other answer is parsed whole: a server that
 * orders its keys differently costs the simulator more, never a wrong reading.
 */
import type { SyncBeatsOffer } from '../../schemas/agent-beats';
import type { PodsDiff, SyncResponse } from '../../schemas/agent-protocol';
import type { Answer } from './light-http';

export interface LightAnswer {
  /** `versions` as sent, to send back as it is. */
  versionsJson: string;
  versions: SyncResponse['versions'];
  leaseRenewedAt: number;
  nodeStatusUpdateSeconds: number;
  syncAfterSeconds?: number;
  reconnectSpreadSeconds?: number;
  pods?: Record<string, unknown>[];
  podVersions?: string[];
  podsDiff?: PodsDiff;
  /** The server's offer of beat-streamed holds (schemas/agent-beats.ts). */
  beats?: SyncBeatsOffer;
}

/** How much of an answer's start holds its versions and intervals (versions are at most 5 x 64 characters). */
const HEAD_BYTES = 1024;
const NUMBER = '(\\d+(?:\\.\\d+)?)';
const HEAD = new RegExp(
  `^\\{"versions":(\\{[^{}]*\\}),"nodeStatusUpdateSeconds":${NUMBER},"leaseRenewedAt":${NUMBER}(?:,"reconnectSpreadSeconds":${NUMBER})?(?:,"beats":(\\{[^{}]*\\}))?(,"pods":|,"podsDiff":)?`,
);
const TAIL = new RegExp(`,"syncAfterSeconds":${NUMBER}\\}$`);

export function fromResponse(res: SyncResponse): LightAnswer {
  return {
    versionsJson: JSON.stringify(res.versions),
    versions: res.versions,
    leaseRenewedAt: res.leaseRenewedAt,
    nodeStatusUpdateSeconds: res.nodeStatusUpdateSeconds,
    ...(res.syncAfterSeconds !== undefined ? { syncAfterSeconds: res.syncAfterSeconds } : {}),
    ...(res.reconnectSpreadSeconds !== undefined ? { reconnectSpreadSeconds: res.reconnectSpreadSeconds } : {}),
    ...(res.pods ? { pods: res.pods } : {}),
    ...(res.podVersions ? { podVersions: res.podVersions } : {}),
    ...(res.podsDiff ? { podsDiff: res.podsDiff } : {}),
    ...(res.beats ? { beats: res.beats } : {}),
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = [0x5b, 0x7b];
const CLOSE = [0x5d, 0x7d];

/**
 * The end (exclusive) of the JSON array or object starting at `start` in `bytes`, or -1. Quotes,
 * backslashes and brackets are ASCII, and no byte of a multi-byte UTF-8 character is below 0x80,
 * so the bytes can be scanned without decoding them.
 */
export function endOfJsonValue(bytes: Buffer, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (OPEN.includes(b)) depth++;
    else if (CLOSE.includes(b) && --depth === 0) return i + 1;
  }
  return -1;
}

/** Reads an answer; `parsed` says whether it had to be parsed whole. */
export function readSyncAnswer(answer: Answer): { answer: LightAnswer; parsed: boolean } {
  const head = HEAD.exec(answer.head(HEAD_BYTES));
  const whole = () => ({ answer: fromResponse(JSON.parse(answer.text()) as SyncResponse), parsed: true });
  if (!head) return whole();
  let pods: Pick<LightAnswer, 'pods' | 'podVersions' | 'podsDiff'> = {};
  if (head[6]) {
    // The head is ASCII up to here (versions are hashes and numbers): its length is its byte count.
    const bytes = answer.bytes();
    const start = Buffer.byteLength(head[0]);
    const read = head[6] === ',"pods":' ? readPods(bytes, start) : readPodsDiff(bytes, start);
    if (!read) return whole();
    pods = read;
  }
  const versionsJson = head[1] as string;
  const after = TAIL.exec(answer.tail(64));
  return {
    answer: {
      versionsJson,
      versions: JSON.parse(versionsJson) as SyncResponse['versions'],
      nodeStatusUpdateSeconds: Number(head[2]),
      leaseRenewedAt: Number(head[3]),
      ...(head[4] !== undefined ? { reconnectSpreadSeconds: Number(head[4]) } : {}),
      ...(head[5] !== undefined ? { beats: JSON.parse(head[5]) as SyncBeatsOffer } : {}),
      ...(after ? { syncAfterSeconds: Number(after[1]) } : {}),
      ...pods,
    },
    parsed: false,
  };
}

/** The JSON value starting at `start`, parsed, and where it ends; undefined if it is not one. */
function valueAt(bytes: Buffer, start: number): { value: unknown; end: number } | undefined {
  const end = endOfJsonValue(bytes, start);
  if (end < 0) return undefined;
  try {
    return { value: JSON.parse(bytes.subarray(start, end).toString('utf8')), end };
  } catch {
    return undefined;
  }
}

const POD_VERSIONS = Buffer.from(',"podVersions":');

/** A full pods section: the list, and the versions the server wrote right after it (if it diffs). */
function readPods(bytes: Buffer, start: number): Pick<LightAnswer, 'pods' | 'podVersions'> | undefined {
  const pods = valueAt(bytes, start);
  if (!pods || !Array.isArray(pods.value)) return undefined;
  const out: Pick<LightAnswer, 'pods' | 'podVersions'> = { pods: pods.value as Record<string, unknown>[] };
  if (bytes.subarray(pods.end, pods.end + POD_VERSIONS.length).equals(POD_VERSIONS)) {
    const versions = valueAt(bytes, pods.end + POD_VERSIONS.length);
    if (!versions || !Array.isArray(versions.value)) return undefined;
    out.podVersions = versions.value as string[];
  }
  return out;
}

function readPodsDiff(bytes: Buffer, start: number): Pick<LightAnswer, 'podsDiff'> | undefined {
  const diff = valueAt(bytes, start);
  const value = diff?.value as Partial<PodsDiff> | undefined;
  if (!value || !Array.isArray(value.pods) || !Array.isArray(value.versions) || !Array.isArray(value.removed))
    return undefined;
  return { podsDiff: value as PodsDiff };
}
