/**
 * DynamoDB on-demand request units by AWS's published rules, from item sizes:
 * - a read: 1 RRU per 4 KB of item, rounded up, strongly consistent; half of that eventually
 *   consistent; a GetItem of a missing item still costs the minimum (1, or 0.5);
 * - a Query (or Scan) is sized by the total bytes of the items it read, rounded up to 4 KB once,
 *   with the same minimum;
 * - a write: 1 WRU per 1 KB of the larger of the item before and after, rounded up (minimum 1); a
 *   conditional write that fails still costs, sized by the existing item (minimum 1);
 * - every write that touches a global secondary index costs index writes on top: one when the
 *   item enters, stays in or leaves the index, two when its index key changes (delete + put).
 * Item size is DynamoDB's: the UTF-8 bytes of every attribute name plus its value.
 */

export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { L: AttributeValue[] }
  | { M: Item };
export type Item = Record<string, AttributeValue>;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** A number's stored size: about one byte per two significant digits, plus one. */
function numberSize(n: string): number {
  const digits = n
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return digits.length === 0 ? 1 : Math.ceil(digits.length / 2) + 1;
}

export function valueSize(v: AttributeValue): number {
  if ('S' in v) return utf8(v.S);
  if ('N' in v) return numberSize(v.N);
  if ('B' in v) return Buffer.from(v.B, 'base64').length;
  if ('BOOL' in v || 'NULL' in v) return 1;
  if ('SS' in v) return v.SS.reduce((n, s) => n + utf8(s), 0);
  if ('NS' in v) return v.NS.reduce((n, s) => n + numberSize(s), 0);
  if ('BS' in v) return v.BS.reduce((n, s) => n + Buffer.from(s, 'base64').length, 0);
  if ('L' in v) return 3 + v.L.reduce((n, x) => n + 1 + valueSize(x), 0);
  return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + utf8(k) + valueSize(x), 0);
}

export function itemSize(item: Item | undefined): number {
  if (!item) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(item)) n += utf8(k) + valueSize(v);
  return n;
}

/** RRU of reading `bytes` in one request (one item, or a Query's total). */
export function readUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** WRU of a write that succeeded, from the item before and after (undefined: absent). */
export function writeUnits(before: Item | undefined, after: Item | undefined): number {
  return Math.max(1, Math.ceil(Math.max(itemSize(before), itemSize(after)) / 1024));
}

/** WRU of a conditional write whose condition failed: sized by the item that is there. */
export function failedWriteUnits(existing: Item | undefined): number {
  return Math.max(1, Math.ceil(itemSize(existing) / 1024));
}

/** The WRU a successful write adds to one global secondary index keyed by `keyAttrs`. */
export function indexWriteUnits(before: Item | undefined, after: Item | undefined, keyAttrs: string[]): number {
  const inIndex = (item: Item | undefined) => item !== undefined && keyAttrs.every((k) => k in item);
  const keyOf = (item: Item) => JSON.stringify(keyAttrs.map((k) => item[k]));
  const size = (item: Item | undefined) => Math.max(1, Math.ceil(itemSize(item) / 1024));
  const was = inIndex(before);
  const is = inIndex(after);
  if (!was && !is) return 0;
  if (was && !is) return size(before);
  if (!was && is) return size(after);
  // Both in the index: an update in place, or a delete and a put when the key moved.
  if (keyOf(before as Item) === keyOf(after as Item)) return size(after);
  return size(before) + size(after);
}
