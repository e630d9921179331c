/**
 * The request-unit arithmetic of the cost bench (bench/cost/units.ts) and its reading of
 * serverless.yml's stream filter (bench/cost/deployment.ts), against AWS's published rules.
 */
import { describe, expect, it } from 'vitest';
import { passesFilters, readDeployment } from '../../bench/cost/deployment';
import { extrapolate, type MonthlyCost, monthly } from '../../bench/cost/model';
import { failedWriteUnits, type Item, indexWriteUnits, itemSize, readUnits, writeUnits } from '../../bench/cost/units';

const withBody = (bytes: number, extra: Item = {}): Item => ({
  pk: { S: 'Pod' },
  sk: { S: 'default/a' },
  body: { S: 'x'.repeat(Math.max(0, bytes - 'pk'.length - 3 - 'sk'.length - 9 - 'body'.length)) },
  ...extra,
});

describe('DynamoDB request units', () => {
  it('sizes an item as the bytes of its attribute names and values', () => {
    // é is two bytes of UTF-8.
    expect(itemSize({ pk: { S: 'Pod' }, sk: { S: 'ns/é' } })).toBe(2 + 3 + 2 + 5);
    expect(itemSize({ n: { N: '12345' } })).toBe(1 + 4);
    expect(itemSize(undefined)).toBe(0);
  });

  it('charges a strongly consistent read one unit per 4 KB rounded up, and half when eventually consistent', () => {
    expect(readUnits(1, true)).toBe(1);
    expect(readUnits(4096, true)).toBe(1);
    expect(readUnits(4097, true)).toBe(2);
    expect(readUnits(4097, false)).toBe(1);
    expect(readUnits(100, false)).toBe(0.5);
  });

  it('charges the minimum for a read that finds nothing', () => {
    expect(readUnits(0, true)).toBe(1);
    expect(readUnits(0, false)).toBe(0.5);
  });

  it('charges a write one unit per 1 KB of the larger of the item before and after', () => {
    expect(writeUnits(undefined, withBody(1024))).toBe(1);
    expect(writeUnits(undefined, withBody(1025))).toBe(2);
    expect(writeUnits(withBody(3000), withBody(100))).toBe(3);
    expect(writeUnits(withBody(500), undefined)).toBe(1);
  });

  it('still charges a conditional write whose condition failed, by the existing item', () => {
    expect(failedWriteUnits(undefined)).toBe(1);
    expect(failedWriteUnits(withBody(2100))).toBe(3);
  });

  it('charges index writes only for items in the index, twice when the index key moves', () => {
    const keys = ['nodeKey', 'sk'];
    const on = (node: string) => withBody(900, { nodeKey: { S: `Pod/${node}` } });
    expect(indexWriteUnits(withBody(900), withBody(900), keys)).toBe(0);
    expect(indexWriteUnits(withBody(900), on('a'), keys)).toBe(1);
    expect(indexWriteUnits(on('a'), on('a'), keys)).toBe(1);
    expect(indexWriteUnits(on('a'), on('b'), keys)).toBe(2);
    expect(indexWriteUnits(on('a'), undefined, keys)).toBe(1);
  });
});

describe('the stream filter of serverless.yml', () => {
  const { stream } = readDeployment();
  const record = (pk: string) => ({ eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: pk }, sk: { S: 'x' } } } });

  it('lets object writes through and keeps bookkeeping out, as the deployment configures', () => {
    expect(stream).toBeDefined();
    const patterns = stream?.filterPatterns ?? [];
    expect(passesFilters(record('Pod'), patterns)).toBe(true);
    expect(passesFilters(record('Deployment'), patterns)).toBe(true);
    // Events and Leases are sharded over four partition keys (functions/store/dynamodb-layout.ts).
    expect(passesFilters(record('Event#0'), patterns)).toBe(false);
    expect(passesFilters(record('Lease#3'), patterns)).toBe(false);
    expect(passesFilters(record('NodeAllocation'), patterns)).toBe(false);
  });

  it('refuses a filter operator it does not model instead of guessing', () => {
    expect(() =>
      passesFilters(record('Pod'), [{ dynamodb: { Keys: { pk: { S: [{ numeric: ['>', 1] }] } } } }]),
    ).toThrow(/not modelled/);
  });
});

describe('the monthly projection', () => {
  const zero = { apiInvocations: 0, httpApiRequests: 0, apiGbS: 0, streamInvocations: 0, streamGbS: 0, rru: 0, wru: 0 };

  it('charges the HTTP API only for the requests that came through it, not the function URL syncs', () => {
    // 30 syncs a minute through the function URL, 2 user requests through the HTTP API.
    const m = monthly({ ...zero, apiInvocations: 32, httpApiRequests: 2 }, { gbS: 0, rru: 0, wru: 0 }, 0);
    expect(m.httpApi).toBeCloseTo(43_200 * 2 * 1e-6, 9);
    expect(m.lambdaRequests).toBeCloseTo(43_200 * 32 * 0.2e-6, 9);
  });

  it('reads from serverless.yml that agents sync through the API function URL', () => {
    expect(readDeployment().agentsViaFunctionUrl).toBe(true);
  });

  it('prices an idle cluster by its scheduled passes alone', () => {
    const m = monthly(zero, { gbS: 0.05, rru: 50, wru: 1 }, 1);
    expect(m.lambdaRequests).toBeCloseTo(43_200 * 0.2e-6, 9);
    expect(m.dynamoReads).toBeCloseTo(43_200 * 50 * 0.125e-6, 9);
    expect(m.httpApi).toBe(0);
  });

  it('extrapolates from the per-node cost when flat, and grows it along the line when not', () => {
    const cost = (total: number): MonthlyCost => ({
      lambdaRequests: 0,
      lambdaGbS: total,
      httpApi: 0,
      dynamoReads: 0,
      dynamoWrites: 0,
      total,
    });
    const idle = cost(1);
    // 10 nodes: $11 (1/node); 100 nodes: $201 (2/node): per-node cost grows by 1/90 per node.
    const a = { nodes: 10, cost: cost(11) };
    const b = { nodes: 100, cost: cost(201) };
    expect(extrapolate(idle, a, b, 1000, true).total).toBeCloseTo(1 + 2 * 1000);
    expect(extrapolate(idle, a, b, 1000, false).total).toBeCloseTo(1 + (1 + 990 / 90) * 1000);
  });
});
