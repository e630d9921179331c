/**
 * Table columns of ferry.dev/v1 NodePools: where the machines come from, how many the pool keeps
 * (the autoscaler's count while it is enabled, else `desiredNodes`) and how many are Ready.
 */
import { at, type Loose, num, str } from './fields';
import { created, type KindColumns, name } from './kind-columns';

export const FERRY_COLUMNS: Record<string, KindColumns> = {
  NodePool: {
    headers: ['NAME', 'CLOUD', 'TYPE', 'DESIRED', 'READY', 'MIN', 'MAX', 'AUTOSCALING', 'AGE'],
    row: (o, now) => [
      name(o),
      str(o, 'spec.cloud'),
      str(o, 'spec.instanceType'),
      desired(o),
      str(o, 'status.readyNodes', '0'),
      str(o, 'spec.minNodes', '0'),
      str(o, 'spec.maxNodes', '<none>'),
      at(o, 'spec.autoscaling.enabled') === true ? 'on' : 'off',
      created(o, now),
    ],
  },
};

function desired(o: Loose): string {
  if (at(o, 'spec.autoscaling.enabled') === true)
    return str(o, 'status.autoscaling.desiredNodes', str(o, 'status.nodes', '0'));
  const min = num(o, 'spec.minNodes');
  const count = Math.max(num(o, 'spec.desiredNodes', min), min);
  return String(Math.min(count, num(o, 'spec.maxNodes', Number.POSITIVE_INFINITY)));
}
