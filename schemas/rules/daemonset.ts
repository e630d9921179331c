/**
 * DaemonSet rules (Kubernetes' ValidateDaemonSetSpec): a non-empty selector that matches the
 * template, pods that restart Always, and an update strategy whose counts are whole numbers or
 * percentages, not both zero (a rolling update that may replace no pod would never finish).
 */
import { forbidden, invalidMessage, notSupported } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { checkIntOrPercent, isZero } from './int-or-percent';
import { checkPodSpec } from './pod';
import { checkSelector } from './selector';
import { checkSelectorMatches } from './workloads';

export function checkDaemonSet(spec: Rec, causes: StatusCause[]): void {
  const selector = isRec(spec.selector) ? spec.selector : undefined;
  const template = isRec(spec.template) ? spec.template : undefined;
  if (selector) {
    const match = isRec(selector.matchLabels) ? selector.matchLabels : {};
    const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
    if (Object.keys(match).length === 0 && exprs.length === 0)
      causes.push(invalidMessage('spec.selector', 'Invalid value: empty selector is invalid for daemonset'));
    checkSelector(selector, 'spec.selector', causes);
    if (template) checkSelectorMatches(selector, template, 'spec', causes);
  }
  if (template && isRec(template.spec)) {
    checkPodSpec(template.spec, 'spec.template.spec', causes);
    const policy = template.spec.restartPolicy;
    if (policy !== undefined && policy !== 'Always')
      causes.push(notSupported('spec.template.spec.restartPolicy', policy, ['Always']));
    if (template.spec.activeDeadlineSeconds !== undefined)
      causes.push(
        forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in DaemonSet is not Supported'),
      );
  }
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
