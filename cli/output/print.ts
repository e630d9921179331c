/** `-o` formats shared by get (and later commands): table, wide, name, yaml, json. */
import { stringify } from 'yaml';
import { COLUMNS, GENERIC_COLUMNS } from '../../schemas/printers/columns';
import type { Loose } from '../../schemas/printers/fields';
import { UsageError } from '../errors';
import { renderTable } from './table';

export const OUTPUT_FORMATS = ['table', 'wide', 'name', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string | undefined): OutputFormat {
  const format = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `unable to match a printer suitable for the output format "${format}", allowed formats are: ${OUTPUT_FORMATS.join(', ')}`,
    );
  }
  return format as OutputFormat;
}

export function toYaml(value: unknown): string {
  // YAML 1.1 quoting, so what is printed reads back as it was (schemas/yaml.ts): the string "on"
  // prints as "on", not as a plain on that YAML 1.1 (kubectl, ferry apply) reads as true.
  return stringify(value, { lineWidth: 0, version: '1.1' });
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export interface TableOptions {
  wide: boolean;
  /** Add a NAMESPACE column first (`-A`). */
  withNamespace: boolean;
  /** Prefix names with `deployment.apps/` (several kinds in one `get`). */
  namePrefix?: string;
  now?: number;
}

export function renderObjectsTable(kind: string, objects: Loose[], options: TableOptions): string {
  const cols = COLUMNS[kind] ?? GENERIC_COLUMNS;
  const now = options.now ?? Date.now();
  const headers = [
    ...(options.withNamespace ? ['NAMESPACE'] : []),
    ...cols.headers,
    ...(options.wide ? (cols.wideHeaders ?? []) : []),
  ];
  const nameIndex = cols.headers.indexOf('NAME');
  const rows = objects.map((o) => {
    const row = cols.row(o, now);
    if (options.namePrefix && nameIndex >= 0) row[nameIndex] = `${options.namePrefix}/${row[nameIndex]}`;
    const ns = (o.metadata as { namespace?: string } | undefined)?.namespace ?? '';
    return [...(options.withNamespace ? [ns] : []), ...row, ...(options.wide && cols.wideRow ? cols.wideRow(o) : [])];
  });
  return renderTable(headers, rows);
}
