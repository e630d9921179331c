/**
 * A metering proxy in front of dynalite: every DynamoDB command the store sends passes through it
 * and is counted with its request and response bytes and its request units (units.ts). Nothing in
 * the store is changed or hooked, so whatever commands the store sends are the ones measured.
 *
 * Each `tap` is its own port with its own counters, so the API function and the controllers
 * function are told apart by the endpoint their store was opened with. Write sizes need the item
 * before the write: the proxy keeps a shadow of every item written through it (all writes in the
 * bench are), and reads an UpdateItem's result back from dynalite directly (uncounted).
 * Successful writes are also handed to stream listeners as DynamoDB stream records, with the
 * images the table's stream view type carries (serverless.yml: NEW_AND_OLD_IMAGES).
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failedWriteUnits, type Item, indexWriteUnits, itemSize, readUnits, writeUnits } from './units';

export interface OpStats {
  calls: number;
  requestBytes: number;
  responseBytes: number;
  rru: number;
  wru: number;
  failed: number;
}

export interface MeterStats {
  calls: number;
  requestBytes: number;
  responseBytes: number;
  rru: number;
  /** Table and index write units together. */
  wru: number;
  indexWru: number;
  /** By command and partition, e.g. "GetItem ~meta", "Query by-node Pod". */
  byOp: Record<string, OpStats>;
  /** Commands the meter cannot price (counted, 0 units): reported so a figure is never silently low. */
  unpriced: Record<string, number>;
}

export interface StreamRecord {
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventSource: 'aws:dynamodb';
  dynamodb: { Keys: Item; SizeBytes: number; NewImage?: Item; OldImage?: Item };
  at: number;
}

export interface TableShape {
  keyAttrs: string[];
  /** Key attributes of each global secondary index. */
  indexes: string[][];
  /** The stream's view type (KEYS_ONLY when omitted). */
  streamViewType?: string;
}

export function emptyStats(): MeterStats {
  return { calls: 0, requestBytes: 0, responseBytes: 0, rru: 0, wru: 0, indexWru: 0, byOp: {}, unpriced: {} };
}

/** `a - b`, for the cost of one window or one invocation. */
export function diffStats(a: MeterStats, b: MeterStats): MeterStats {
  const out = emptyStats();
  out.calls = a.calls - b.calls;
  out.requestBytes = a.requestBytes - b.requestBytes;
  out.responseBytes = a.responseBytes - b.responseBytes;
  out.rru = a.rru - b.rru;
  out.wru = a.wru - b.wru;
  out.indexWru = a.indexWru - b.indexWru;
  for (const [k, s] of Object.entries(a.byOp)) {
    const o = b.byOp[k];
    const d = {
      calls: s.calls - (o?.calls ?? 0),
      requestBytes: s.requestBytes - (o?.requestBytes ?? 0),
      responseBytes: s.responseBytes - (o?.responseBytes ?? 0),
      rru: s.rru - (o?.rru ?? 0),
      wru: s.wru - (o?.wru ?? 0),
      failed: s.failed - (o?.failed ?? 0),
    };
    if (d.calls > 0) out.byOp[k] = d;
  }
  for (const [k, n] of Object.entries(a.unpriced))
    if (n - (b.unpriced[k] ?? 0) > 0) out.unpriced[k] = n - (b.unpriced[k] ?? 0);
  return out;
}

export function copyStats(s: MeterStats): MeterStats {
  return structuredClone(s);
}

type Body = Record<string, unknown>;
type Answer = { status: number; headers: Record<string, string>; body: Buffer };

export class DynamoMeter {
  private readonly shadow = new Map<string, Item>();
  private readonly pending = new Set<Promise<void>>();
  private readonly servers: Server[] = [];
  private readonly streamListeners = new Set<(r: StreamRecord) => void>();

  constructor(
    private readonly upstream: string,
    private readonly shape: TableShape,
  ) {}

  /** A new port with its own counters. */
  async tap(): Promise<{ url: string; stats: MeterStats }> {
    const stats = emptyStats();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        this.handle(stats, req.headers as Record<string, string>, raw)
          .then((a) => {
            res.writeHead(a.status, a.headers);
            res.end(a.body);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(
              JSON.stringify({
                __type: 'com.amazon.coral.service#InternalFailure',
                message: `meter -> ${this.upstream}: ${String(err)}`,
              }),
            );
          });
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.servers.push(server);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats };
  }

  onStreamRecord(listener: (r: StreamRecord) => void): () => void {
    this.streamListeners.add(listener);
    return () => this.streamListeners.delete(listener);
  }

  /**
   * Waits for the read-backs of the writes answered so far, so their units are counted (not for
   * later ones: under steady writes the set never empties).
   */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    for (const s of this.servers) s.closeAllConnections();
  }

  private async handle(stats: MeterStats, headers: Record<string, string>, raw: Buffer): Promise<Answer> {
    const op = String(headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
    let body: Body = {};
    try {
      body = JSON.parse(raw.toString('utf8') || '{}') as Body;
    } catch {}
    const before = this.writeKeyOf(op, body);
    const beforeItem = before ? this.shadow.get(before) : undefined;
    const answer = await this.forward(headers, raw);
    const out = JSON.parse(answer.body.toString('utf8') || '{}') as Body;
    const label = labelOf(op, body);
    stats.byOp[label] ??= { calls: 0, requestBytes: 0, responseBytes: 0, rru: 0, wru: 0, failed: 0 };
    const s = stats.byOp[label];
    stats.calls++;
    s.calls++;
    stats.requestBytes += raw.length;
    s.requestBytes += raw.length;
    stats.responseBytes += answer.body.length;
    s.responseBytes += answer.body.length;
    const addRead = (n: number) => {
      stats.rru += n;
      s.rru += n;
    };
    const addWrite = (table: number, index: number) => {
      stats.wru += table + index;
      stats.indexWru += index;
      s.wru += table + index;
    };
    const ok = answer.status === 200;
    const failedCondition = String(out.__type ?? '').includes('ConditionalCheckFailed');
    const consistent = body.ConsistentRead === true;
    switch (op) {
      case 'GetItem':
        if (ok) addRead(readUnits(itemSize(out.Item as Item | undefined), consistent));
        break;
      case 'Query':
      case 'Scan':
        if (ok) {
          if (body.ProjectionExpression || body.FilterExpression || body.AttributesToGet || body.Select)
            stats.unpriced[`${op} with projection/filter (priced by returned items)`] =
              (stats.unpriced[`${op} with projection/filter (priced by returned items)`] ?? 0) + 1;
          const bytes = ((out.Items as Item[] | undefined) ?? []).reduce((n, i) => n + itemSize(i), 0);
          addRead(readUnits(bytes, consistent));
        }
        break;
      case 'BatchGetItem':
        if (ok) {
          const requests = (body.RequestItems ?? {}) as Record<string, { ConsistentRead?: boolean }>;
          for (const [table, items] of Object.entries((out.Responses ?? {}) as Record<string, Item[]>)) {
            for (const i of items) addRead(readUnits(itemSize(i), requests[table]?.ConsistentRead === true));
          }
        }
        break;
      case 'PutItem':
      case 'DeleteItem':
      case 'UpdateItem': {
        if (failedCondition) {
          s.failed++;
          addWrite(failedWriteUnits(beforeItem), 0);
          break;
        }
        if (!ok || !before) break;
        if (op === 'UpdateItem') {
          // The result is not in the request: read it back (uncounted) off the hot path.
          const p = this.readBack(body.TableName as string, body.Key as Item).then((after) => {
            this.commit(before, beforeItem, after);
            addWrite(writeUnits(beforeItem, after), this.indexUnits(beforeItem, after));
          });
          this.pending.add(p);
          void p.finally(() => this.pending.delete(p));
        } else {
          const after = op === 'PutItem' ? (body.Item as Item) : undefined;
          this.commit(before, beforeItem, after);
          addWrite(writeUnits(beforeItem, after), this.indexUnits(beforeItem, after));
        }
        break;
      }
      case 'BatchWriteItem': {
        if (!ok) break;
        const requests = (body.RequestItems ?? {}) as Record<
          string,
          { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
        >;
        for (const list of Object.values(requests)) {
          for (const r of list) {
            const itemKey = this.keyString(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {});
            const was = this.shadow.get(itemKey);
            const after = r.PutRequest?.Item;
            this.commit(itemKey, was, after);
            addWrite(writeUnits(was, after), this.indexUnits(was, after));
          }
        }
        break;
      }
      case 'CreateTable':
      case 'DescribeTable':
      case 'ListTables':
        break;
      default:
        stats.unpriced[op] = (stats.unpriced[op] ?? 0) + 1;
    }
    return answer;
  }

  private indexUnits(before: Item | undefined, after: Item | undefined): number {
    return this.shape.indexes.reduce((n, keys) => n + indexWriteUnits(before, after, keys), 0);
  }

  /** Updates the shadow and emits the stream record a real table would (none for a no-op write). */
  private commit(key: string, before: Item | undefined, after: Item | undefined): void {
    if (after) this.shadow.set(key, after);
    else this.shadow.delete(key);
    if (!before && !after) return;
    if (before && after && JSON.stringify(before) === JSON.stringify(after)) return;
    const source = (after ?? before) as Item;
    const Keys: Item = {};
    for (const k of this.shape.keyAttrs) if (source[k]) Keys[k] = source[k];
    const view = this.shape.streamViewType ?? 'KEYS_ONLY';
    const NewImage = after && (view === 'NEW_IMAGE' || view === 'NEW_AND_OLD_IMAGES') ? after : undefined;
    const OldImage = before && (view === 'OLD_IMAGE' || view === 'NEW_AND_OLD_IMAGES') ? before : undefined;
    const record: StreamRecord = {
      eventName: !before ? 'INSERT' : !after ? 'REMOVE' : 'MODIFY',
      eventSource: 'aws:dynamodb',
      dynamodb: {
        Keys,
        SizeBytes: itemSize(Keys) + (NewImage ? itemSize(NewImage) : 0) + (OldImage ? itemSize(OldImage) : 0),
        ...(NewImage ? { NewImage } : {}),
        ...(OldImage ? { OldImage } : {}),
      },
      at: Date.now(),
    };
    for (const l of this.streamListeners) l(record);
  }

  private writeKeyOf(op: string, body: Body): string | undefined {
    if (op === 'PutItem') return this.keyString((body.Item ?? {}) as Item);
    if (op === 'UpdateItem' || op === 'DeleteItem') return this.keyString((body.Key ?? {}) as Item);
    return undefined;
  }

  private keyString(item: Item): string {
    return JSON.stringify(this.shape.keyAttrs.map((k) => item[k]));
  }

  private async readBack(table: string, key: Item): Promise<Item | undefined> {
    const payload = Buffer.from(JSON.stringify({ TableName: table, Key: key, ConsistentRead: true }));
    const res = await this.forward(
      {
        'x-amz-target': 'DynamoDB_20120810.GetItem',
        'content-type': 'application/x-amz-json-1.0',
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20200101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        'x-amz-date': '20200101T000000Z',
      },
      payload,
    );
    return (JSON.parse(res.body.toString('utf8')) as { Item?: Item }).Item;
  }

  private forward(headers: Record<string, string>, payload: Buffer): Promise<Answer> {
    const url = new URL(this.upstream);
    const pass: Record<string, string> = {};
    for (const h of ['x-amz-target', 'content-type', 'authorization', 'x-amz-date', 'x-amz-security-token']) {
      if (headers[h]) pass[h] = headers[h];
    }
    pass['content-length'] = String(payload.length);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, method: 'POST', path: '/', headers: pass, agent: keepAlive },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const out: Record<string, string> = {};
            for (const h of ['content-type', 'x-amzn-requestid', 'x-amz-crc32']) {
              const v = res.headers[h];
              if (typeof v === 'string') out[h] = v;
            }
            resolve({ status: res.statusCode ?? 500, headers: out, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** "GetItem ~meta", "Query Pod", "Query by-node Pod": command, index and partition (node names cut). */
function labelOf(op: string, body: Body): string {
  const firstS = (item: unknown) =>
    Object.values((item ?? {}) as Record<string, { S?: string }>).find((v) => typeof v?.S === 'string')?.S;
  let part: string | undefined;
  if (op === 'PutItem') part = firstS(body.Item);
  else if (op === 'GetItem' || op === 'UpdateItem' || op === 'DeleteItem') part = firstS(body.Key);
  else if (op === 'Query') part = firstS(body.ExpressionAttributeValues);
  const index = typeof body.IndexName === 'string' ? ` ${body.IndexName}` : '';
  return part === undefined ? op : `${op}${index} ${part.split('/')[0]}`;
}
