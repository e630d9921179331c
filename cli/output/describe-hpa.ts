/**
 * `ferry describe hpa` after kubectl's HorizontalPodAutoscaler describer: the reference, each
 * metric as "current / target", the bounds, the replicas and the conditions with their reasons.
 */
import { hpaTargets } from '../../schemas/printers/columns-autoscaling';
import { arr, at, type Loose, num, str } from '../../schemas/printers/fields';
import { metadataPairs, type Pairs, pairs } from './describe-pairs';
import { renderTable } from './table';

function describeHpa(o: Loose): string[] {
  const conditions = arr(o, 'status.conditions').map((c) => [
    str(c, 'type'),
    str(c, 'status'),
    str(c, 'reason'),
    str(c, 'message'),
  ]);
  const metrics = hpaTargets(o)
    .split(/, (?=[a-z-]+: )/)
    .map((m) => `  ${m.replace('/', ' / ').replace(': ', ' (current / target): ')}`);
  return [
    ...pairs([
      ...metadataPairs(o),
      ['Reference', `${str(o, 'spec.scaleTargetRef.kind')}/${str(o, 'spec.scaleTargetRef.name')}`],
    ] as Pairs),
    'Metrics:',
    ...metrics,
    ...pairs([
      ['Min replicas', String(num(o, 'spec.minReplicas', 1))],
      ['Max replicas', String(num(o, 'spec.maxReplicas'))],
      [
        `${str(o, 'spec.scaleTargetRef.kind')} pods`,
        `${num(o, 'status.currentReplicas')} current / ${num(o, 'status.desiredReplicas')} desired`,
      ],
      ...(at(o, 'status.lastScaleTime')
        ? [['Last scale time', str(o, 'status.lastScaleTime')] as [string, string]]
        : []),
    ] as Pairs),
    'Conditions:',
    ...(conditions.length
      ? renderTable(['Type', 'Status', 'Reason', 'Message'], [['----', '------', '------', '-------'], ...conditions])
          .split('\n')
          .map((l) => `  ${l}`)
      : ['  <none>']),
  ];
}

export const AUTOSCALING_DESCRIBERS: Record<string, (o: Loose) => string[]> = {
  HorizontalPodAutoscaler: describeHpa,
};
