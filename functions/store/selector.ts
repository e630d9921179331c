/**
 * Kubernetes label selectors: equality-based (`a=b`, `a==b`, `a!=b`) and set-based
 * (`a in (x,y)`, `a notin (x)`, `a`, `!a`), comma-separated and ANDed.
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
 */
import { BadRequestError } from '../errors';

export type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | '!' };

export type LabelSelectorMatch = (labels: Record<string, string> | undefined) => boolean;

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function parseLabelSelector(selector: string): Requirement[] {
  const out: Requirement[] = [];
  for (const raw of splitTopLevel(selector)) {
    const term = raw.trim();
    if (term === '') continue;
    out.push(parseTerm(term, selector));
  }
  return out;
}

export function compileLabelSelector(selector: string | undefined): LabelSelectorMatch {
  if (!selector) return () => true;
  const reqs = parseLabelSelector(selector);
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

/** A Kubernetes `LabelSelector` object (`matchLabels` + `matchExpressions`) as a matcher. */
export function compileSelectorObject(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}): LabelSelectorMatch {
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({
    key,
    op: 'in' as const,
    values: [v],
  }));
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') reqs.push({ key: e.key, op: 'in', values: e.values ?? [] });
    else if (op === 'NotIn') reqs.push({ key: e.key, op: 'notin', values: e.values ?? [] });
    else if (op === 'Exists') reqs.push({ key: e.key, op: 'exists' });
    else if (op === 'DoesNotExist') reqs.push({ key: e.key, op: '!' });
    else throw new BadRequestError(`unknown label selector operator ${JSON.stringify(op)}`);
  }
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'in':
      return has && r.values.includes(labels[r.key] as string);
    case 'notin':
      return !has || !r.values.includes(labels[r.key] as string);
  }
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function parseTerm(term: string, whole: string): Requirement {
  const bad = (why: string) => new BadRequestError(`unable to parse label selector ${JSON.stringify(whole)}: ${why}`);
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const [, key, op, list] = set as unknown as [string, string, 'in' | 'notin', string];
    const values = list.split(',').map((v) => v.trim());
    checkKey(key, bad);
    for (const v of values) if (!VALUE.test(v)) throw bad(`invalid value ${JSON.stringify(v)}`);
    return { key, op, values };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (eq) {
    const [, key, op, value] = eq as unknown as [string, string, string, string];
    checkKey(key, bad);
    if (!VALUE.test(value)) throw bad(`invalid value ${JSON.stringify(value)}`);
    return { key, op: op === '!=' ? 'notin' : 'in', values: [value] };
  }
  if (term.startsWith('!')) {
    const key = term.slice(1).trim();
    checkKey(key, bad);
    return { key, op: '!' };
  }
  checkKey(term, bad);
  return { key: term, op: 'exists' };
}

function checkKey(key: string, bad: (why: string) => Error): void {
  if (!KEY.test(key) || key.length > 316) throw bad(`invalid key ${JSON.stringify(key)}`);
}
