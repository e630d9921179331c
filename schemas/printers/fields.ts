/**
 * Loose reads of API objects for display. Printers must not crash on an object that is half
 * filled in (a pod not yet scheduled, a node that never reported), so every read tolerates absence.
 */
export type Loose = Record<string, unknown>;

export function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Loose)[key];
  }
  return cur;
}

export function str(obj: unknown, path: string, fallback = ''): string {
  const v = at(obj, path);
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : fallback;
}

export function num(obj: unknown, path: string, fallback = 0): number {
  const v = at(obj, path);
  return typeof v === 'number' ? v : fallback;
}

export function arr(obj: unknown, path: string): Loose[] {
  const v = at(obj, path);
  return Array.isArray(v) ? v.filter((x): x is Loose => typeof x === 'object' && x !== null) : [];
}

export function record(obj: unknown, path: string): Record<string, string> {
  const v = at(obj, path);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

/** `app=web,tier=frontend`, or `<none>`. */
export function labelsString(labels: Record<string, string>): string {
  const s = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return s || '<none>';
}

/** A LabelSelector (matchLabels + matchExpressions) in kubectl's string form. */
export function selectorString(selector: unknown): string {
  const parts = Object.entries(record(selector, 'matchLabels')).map(([k, v]) => `${k}=${v}`);
  for (const e of arr(selector, 'matchExpressions')) {
    const key = str(e, 'key');
    const values = (Array.isArray(e.values) ? e.values : []).join(',');
    switch (str(e, 'operator')) {
      case 'In':
        parts.push(`${key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(key);
        break;
      case 'DoesNotExist':
        parts.push(`!${key}`);
        break;
    }
  }
  return parts.join(',') || '<none>';
}
