/** The key: value lines every `ferry describe` text is made of, and an object's common metadata. */
import { type Loose, record, str } from '../../schemas/printers/fields';

export type Pairs = [string, string][];

export function pairs(rows: Pairs, indent = ''): string[] {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}${v}`.trimEnd());
}

export function mapLines(label: string, map: Record<string, string>): Pairs {
  const entries = Object.entries(map);
  if (entries.length === 0) return [[label, '<none>']];
  return entries.map(([k, v], i) => [i === 0 ? label : '', `${k}=${v}`]);
}

export function metadataPairs(obj: Loose): Pairs {
  const ns = str(obj, 'metadata.namespace');
  return [
    ['Name', str(obj, 'metadata.name')],
    ...(ns ? ([['Namespace', ns]] as Pairs) : []),
    ['CreationTimestamp', str(obj, 'metadata.creationTimestamp', '<unknown>')],
    ...mapLines('Labels', record(obj, 'metadata.labels')),
    ...mapLines('Annotations', record(obj, 'metadata.annotations')),
  ];
}
