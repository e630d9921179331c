/** Rules for Deployments, ReplicaSets, Jobs and CronJobs: selectors, templates, restart policies. */
import { invalid, invalidMessage, notSupported, required } from '../causes';
import { scheduleProblem } from '../cron';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { checkPodSpec } from './pod';
import { checkSelector } from './selector';

const JOB_RESTART_POLICIES = ['OnFailure', 'Never'];

function templateLabels(template: Rec | undefined): Rec {
  return (isRec(template?.metadata) && isRec(template.metadata.labels) ? template.metadata.labels : {}) as Rec;
}

/** The first matchLabels entry the template's labels lack, as a cause on them. */
export function checkSelectorMatches(selector: unknown, template: Rec, at: string, causes: StatusCause[]): void {
  const match = isRec(selector) && isRec(selector.matchLabels) ? selector.matchLabels : {};
  const labels = templateLabels(template);
  for (const [k, v] of Object.entries(match)) {
    if (labels[k] !== v) {
      causes.push(
        invalidMessage(
          `${at}.template.metadata.labels`,
          `Invalid value: selector does not match template labels (${k}=${String(v)})`,
        ),
      );
      return;
    }
  }
}

/** Deployment and ReplicaSet (and the part DaemonSets share: `noun` names the kind in messages). */
export function checkWorkload(spec: Rec, causes: StatusCause[], noun = 'deployment'): void {
  const selector = isRec(spec.selector) ? spec.selector : undefined;
  const template = isRec(spec.template) ? spec.template : undefined;
  if (selector) {
    const match = isRec(selector.matchLabels) ? selector.matchLabels : {};
    const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
    if (Object.keys(match).length === 0 && exprs.length === 0)
      causes.push(invalidMessage('spec.selector', `Invalid value: empty selector is invalid for ${noun}`));
    checkSelector(selector, 'spec.selector', causes);
    if (template) checkSelectorMatches(selector, template, 'spec', causes);
  }
  if (template && isRec(template.spec)) {
    checkPodSpec(template.spec, 'spec.template.spec', causes);
    const policy = template.spec.restartPolicy;
    if (policy !== undefined && policy !== 'Always')
      causes.push(notSupported('spec.template.spec.restartPolicy', policy, ['Always']));
  }
}

export function checkCronJob(spec: Rec, causes: StatusCause[]): void {
  if (typeof spec.schedule === 'string') {
    const problem = scheduleProblem(spec.schedule, typeof spec.timeZone === 'string' ? spec.timeZone : undefined);
    if (problem)
      causes.push(
        invalid(`spec.${problem.field}`, problem.field === 'schedule' ? spec.schedule : spec.timeZone, problem.message),
      );
  }
  const template = isRec(spec.jobTemplate) && isRec(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
  if (template) checkJob(template, causes, 'spec.jobTemplate.spec');
}

/** Job fields of Kubernetes ferry's job controller does not run yet (refused, never ignored). */
const UNSUPPORTED_JOB_FIELDS: [string, string][] = [
  ['podFailurePolicy', 'pod failure policies'],
  ['backoffLimitPerIndex', 'per-index back-off limits'],
  ['maxFailedIndexes', 'per-index back-off limits'],
  ['successPolicy', 'Job success policies'],
];

export function checkJob(spec: Rec, causes: StatusCause[], at = 'spec'): void {
  checkSelector(spec.selector, `${at}.selector`, causes);
  const unsupported = (field: string, what: string) =>
    causes.push({
      field: `${at}.${field}`,
      reason: 'FieldValueNotSupported',
      message: `ferry does not support ${what} yet`,
    });
  if (spec.completionMode === 'Indexed') unsupported('completionMode', 'Indexed Jobs');
  for (const [field, what] of UNSUPPORTED_JOB_FIELDS) if (spec[field] !== undefined) unsupported(field, what);
  if (spec.podReplacementPolicy === 'Failed')
    unsupported('podReplacementPolicy', 'podReplacementPolicy: Failed (it replaces a pod once it is terminating)');
  const template = isRec(spec.template) ? spec.template : undefined;
  if (!template || !isRec(template.spec)) return;
  checkPodSpec(template.spec, `${at}.template.spec`, causes);
  const policy = template.spec.restartPolicy;
  if (policy === undefined)
    causes.push(required(`${at}.template.spec.restartPolicy`, 'supported values: "OnFailure", "Never"'));
  else if (policy !== 'OnFailure' && policy !== 'Never')
    causes.push(notSupported(`${at}.template.spec.restartPolicy`, policy, JOB_RESTART_POLICIES));
  checkSelectorMatches(spec.selector, template, at, causes);
}
