/**
 * The cost model: list prices (us-east-1, stated here so every figure can be checked) and the
 * projection of a measured window to a 30-day month. Measured per minute of the window: API
 * function invocations and billed GB-s, the HTTP API requests among them (agents' syncs come
 * through the function URL, which bills nothing beyond Lambda's own charges), controllers invocations from the
 * stream and their GB-s, DynamoDB RRU and WRU of both functions; the schedule is priced per
 * invocation (measured) times its rate from serverless.yml.
 */

export const PRICES = {
  lambdaPerRequest: 0.2 / 1e6,
  /** arm64 (serverless.yml's architecture); x86_64 is $0.0000166667. */
  lambdaPerGbSecondArm64: 0.0000133334,
  lambdaPerGbSecondX86: 0.0000166667,
  httpApiPerRequest: 1.0 / 1e6,
  dynamoPerWru: 0.625 / 1e6,
  dynamoPerRru: 0.125 / 1e6,
};

export const MINUTES_PER_MONTH = 30 * 24 * 60;

export const FORMULA =
  'usd/month = 43,200 min x [ (apiInvocations + streamInvocations) x $0.20/M + (apiGbS + streamGbS) x $/GB-s ' +
  "+ httpApiRequests x $1.00/M (users' requests; agents' come through the function URL: no charge) + RRU x $0.125/M + WRU x $0.625/M ] per minute of the steady window " +
  '+ 43,200 x schedulePerMinute x (one scheduled invocation: $0.20/M + its GB-s x $/GB-s + its RRU and WRU); ' +
  'GB-s = billed ms (each invocation rounded up to 1 ms) / 1000 x memorySize/1024; $/GB-s = $0.0000133334 (arm64); ' +
  'RRU: 1 per 4 KB strongly consistent (half eventually), Query by total bytes, minimum 1 (0.5); ' +
  'WRU: 1 per 1 KB of the larger of before/after (failed conditions too), plus one or two per GSI write. ' +
  'Not included: DynamoDB storage, stream reads by Lambda (free), data transfer, CloudWatch logs.';

/** What one window measured, per minute (the schedule: per invocation). */
export interface PerMinute {
  apiInvocations: number;
  /** Those of the API invocations that came through the HTTP API. */
  httpApiRequests: number;
  apiGbS: number;
  streamInvocations: number;
  streamGbS: number;
  rru: number;
  wru: number;
}

export interface PerScheduled {
  gbS: number;
  rru: number;
  wru: number;
}

export interface MonthlyCost {
  lambdaRequests: number;
  lambdaGbS: number;
  httpApi: number;
  dynamoReads: number;
  dynamoWrites: number;
  total: number;
}

export function gbSeconds(billedMs: number, memoryMb: number): number {
  return (billedMs / 1000) * (memoryMb / 1024);
}

export function monthly(
  m: PerMinute,
  scheduled: PerScheduled,
  schedulePerMinute: number,
  perGbS = PRICES.lambdaPerGbSecondArm64,
): MonthlyCost {
  const month = MINUTES_PER_MONTH;
  const sched = month * schedulePerMinute;
  const lambdaRequests = (month * (m.apiInvocations + m.streamInvocations) + sched) * PRICES.lambdaPerRequest;
  const lambdaGbS = (month * (m.apiGbS + m.streamGbS) + sched * scheduled.gbS) * perGbS;
  const httpApi = month * m.httpApiRequests * PRICES.httpApiPerRequest;
  const dynamoReads = (month * m.rru + sched * scheduled.rru) * PRICES.dynamoPerRru;
  const dynamoWrites = (month * m.wru + sched * scheduled.wru) * PRICES.dynamoPerWru;
  return {
    lambdaRequests,
    lambdaGbS,
    httpApi,
    dynamoReads,
    dynamoWrites,
    total: lambdaRequests + lambdaGbS + httpApi + dynamoReads + dynamoWrites,
  };
}

/**
 * A larger cluster's cost from two measured ones: idle + N x the per-node cost above idle. Flat
 * per-sync counts: the per-node cost of the larger cluster. Otherwise the per-node cost follows
 * the straight line through both (so the bill grows with the square of N), or stays at b's
 * where it fell.
 */
export function extrapolate(
  idle: MonthlyCost,
  a: { nodes: number; cost: MonthlyCost },
  b: { nodes: number; cost: MonthlyCost },
  nodes: number,
  flat: boolean,
): MonthlyCost {
  const keys = ['lambdaRequests', 'lambdaGbS', 'httpApi', 'dynamoReads', 'dynamoWrites'] as const;
  const out = { total: 0 } as MonthlyCost;
  for (const k of keys) {
    const pa = (a.cost[k] - idle[k]) / a.nodes;
    const pb = (b.cost[k] - idle[k]) / b.nodes;
    // A part whose per-node cost fell from a to b is held at b's (never projected below it).
    const per = flat ? pb : Math.max(pb, pa + ((pb - pa) * (nodes - a.nodes)) / (b.nodes - a.nodes));
    out[k] = idle[k] + per * nodes;
    out.total += out[k];
  }
  return out;
}
