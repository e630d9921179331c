/**
 * Server-side printing: a `meta.k8s.io/v1` Table instead of the object or list when the client asks
 * for one (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, what `kubectl get` sends), so
 * kubectl shows the same columns as `ferry get` (schemas/printers/columns.ts). The wide columns
 * have priority 1 (kubectl shows them with `-o wide`). Each row carries the object's metadata
 * (`includeObject=Metadata`, the default), the whole object (`Object`) or nothing (`None`).
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
 */
import { COLUMNS, GENERIC_COLUMNS } from '../../schemas/printers/columns';
import type { Loose } from '../../schemas/printers/fields';
import { BadRequestError } from '../errors';
import type { Obj } from '../store/types';

export function wantsTable(headers: Record<string, string>): boolean {
  const accept = headers.accept;
  if (!accept?.includes('as=Table')) return false;
  // Any Table type among those accepted gets the v1 Table (a v1beta1 ask gets the same shape).
  return accept.split(',').some((t) => /as=Table/.test(t) && /g=meta\.k8s\.io/.test(t));
}

export function toTable(kind: string, objects: Obj[], query: URLSearchParams, resourceVersion?: string): Obj {
  const include = query.get('includeObject') ?? 'Metadata';
  if (!['None', 'Metadata', 'Object'].includes(include))
    throw new BadRequestError(
      `includeObject: must be None, Metadata or Object, got ${JSON.stringify(include.slice(0, 40))}`,
    );
  const columns = COLUMNS[kind] ?? GENERIC_COLUMNS;
  const now = Date.now();
  const definition = (name: string, priority: number) => ({
    // kubectl upper-cases column names; others show them as given ("Up-to-date", as Kubernetes').
    name: `${name[0]}${name.slice(1).toLowerCase()}`,
    type: 'string',
    format: name === 'NAME' ? 'name' : '',
    description: '',
    priority,
  });
  return {
    apiVersion: 'meta.k8s.io/v1',
    kind: 'Table',
    metadata: resourceVersion !== undefined ? { resourceVersion } : {},
    columnDefinitions: [
      ...columns.headers.map((h) => definition(h, 0)),
      ...(columns.wideHeaders ?? []).map((h) => definition(h, 1)),
    ],
    rows: objects.map((o) => {
      const loose = o as unknown as Loose;
      const row: Record<string, unknown> = {
        cells: [...columns.row(loose, now), ...(columns.wideRow?.(loose) ?? [])],
      };
      if (include === 'Object') row.object = o;
      else if (include === 'Metadata')
        row.object = { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: o.metadata };
      return row;
    }),
  } as unknown as Obj;
}
