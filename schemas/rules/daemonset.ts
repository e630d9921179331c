/**
 * DaemonSet rules (Kubernetes' ValidateDaemonSetSpec): a non-empty selector that matches the
 * template, pods that restart Always, and an update strategy whose counts are whole numbers or
 * percentages, not both zero (a rolling update that may replace no pod would never finish).
 */
import { forbidden, invalidMessage } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { checkIntOrPercent, isZero } from './int-or-percent';
import { checkWorkload } from './workloads';

export function checkDaemonSet(spec: Rec, causes: StatusCause[]): void {
  checkWorkload(spec, causes, 'daemonset');
  const template = isRec(spec.template) ? spec.template : undefined;
  if (template && isRec(template.spec) && template.spec.activeDeadlineSeconds !== undefined)
    causes.push(
      forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in DaemonSet is not Supported'),
    );
  const strategy = isRec(spec.updateStrategy) ? spec.updateStrategy : undefined;
  const rolling = isRec(strategy?.rollingUpdate) ? strategy.rollingUpdate : undefined;
  if (!strategy || !rolling) return;
  if (strategy.type === 'OnDelete') {
    causes.push(
      forbidden('spec.updateStrategy.rollingUpdate', "may not be specified when strategy `type` is 'OnDelete'"),
    );
    return;
  }
  const at = 'spec.updateStrategy.rollingUpdate';
  checkIntOrPercent(rolling.maxUnavailable, `${at}.maxUnavailable`, causes);
  checkIntOrPercent(rolling.maxSurge, `${at}.maxSurge`, causes);
  const unavailable = rolling.maxUnavailable ?? 1;
  const surge = rolling.maxSurge ?? 0;
  if (isZero(unavailable) && isZero(surge))
    causes.push(invalidMessage(`${at}.maxUnavailable`, 'Invalid value: may not be 0 when `maxSurge` is 0'));
}
