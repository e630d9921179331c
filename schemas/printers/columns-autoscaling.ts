/**
 * Table columns of HorizontalPodAutoscalers, after kubectl's printHorizontalPodAutoscaler:
 * REFERENCE (`Deployment/web`), TARGETS (`cpu: 45%/80%`, `<unknown>` before a first reading,
 * `+ N more...` past two metrics), MINPODS, MAXPODS, REPLICAS.
 */
import { arr, at, type Loose, num, str } from './fields';
import { created, type KindColumns, name } from './kind-columns';

/** kubectl shows at most this many metrics in TARGETS. */
const SHOWN_METRICS = 2;

function sourceOf(m: Loose): Loose | undefined {
  const source = at(m, str(m, 'type') === 'ContainerResource' ? 'containerResource' : 'resource');
  return typeof source === 'object' && source !== null ? (source as Loose) : undefined;
}

function targetCell(spec: Loose, current: Loose | undefined): string {
  const source = sourceOf(spec);
  if (!source) return '<unsupported>';
  const resource = str(source, 'name');
  const utilization = str(source, 'target.type') === 'Utilization';
  const now = current ? at(current, 'current') : undefined;
  const shown = utilization
    ? at(now, 'averageUtilization') === undefined
      ? '<unknown>'
      : `${num(now, 'averageUtilization')}%`
    : at(now, 'averageValue') === undefined
      ? '<unknown>'
      : String(at(now, 'averageValue'));
  const target = utilization
    ? `${num(source, 'target.averageUtilization')}%`
    : String(at(source, 'target.averageValue'));
  return `${resource}: ${shown}/${target}`;
}

/** The status metric for spec metric `m` (same type, resource and container), if any. */
function statusFor(m: Loose, statuses: Loose[]): Loose | undefined {
  const source = sourceOf(m);
  return statuses
    .filter((s) => str(s, 'type') === str(m, 'type'))
    .map(sourceOf)
    .find(
      (s) =>
        s !== undefined && str(s, 'name') === str(source, 'name') && str(s, 'container') === str(source, 'container'),
    );
}

export function hpaTargets(o: Loose): string {
  const metrics = arr(o, 'spec.metrics');
  if (metrics.length === 0) return '<none>';
  const statuses = arr(o, 'status.currentMetrics');
  const cells = metrics.slice(0, SHOWN_METRICS).map((m) => targetCell(m, statusFor(m, statuses)));
  const more = metrics.length - SHOWN_METRICS;
  return more > 0 ? `${cells.join(', ')} + ${more} more...` : cells.join(', ');
}

export const AUTOSCALING_COLUMNS: Record<string, KindColumns> = {
  HorizontalPodAutoscaler: {
    headers: ['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE'],
    row: (o, now) => [
      name(o),
      `${str(o, 'spec.scaleTargetRef.kind')}/${str(o, 'spec.scaleTargetRef.name')}`,
      hpaTargets(o),
      at(o, 'spec.minReplicas') === undefined ? '<unset>' : String(num(o, 'spec.minReplicas')),
      String(num(o, 'spec.maxReplicas')),
      String(num(o, 'status.currentReplicas')),
      created(o, now),
    ],
  },
};
