/**
 * HorizontalPodAutoscaler rules (Kubernetes' ValidateHorizontalPodAutoscalerSpec, with its
 * messages), and what ferry refuses because it would not honour it: a target kind without a
 * `scale` subresource, metric sources other than the resource metrics (Pods, Object, External
 * need a custom or external metrics API), resources other than cpu and memory (the nodes report
 * no others), and the alpha per-rule `tolerance`.
 */
import { METRIC_RESOURCES, METRIC_TYPES, SCALE_TARGET_KINDS, SUPPORTED_METRIC_TYPES } from '../autoscaling';
import { forbidden, invalid, invalidMessage, notSupported, required } from '../causes';
import { parseQuantity, quantityProblem } from '../quantity';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

/** Kubernetes' bounds on behavior (MaxPeriodSeconds, MaxStabilizationWindowSeconds). */
const MAX_PERIOD_SECONDS = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS = 3600;
const SOURCE_FIELD: Record<string, string> = {
  Resource: 'resource',
  ContainerResource: 'containerResource',
  Pods: 'pods',
  Object: 'object',
  External: 'external',
};

export function checkHorizontalPodAutoscaler(spec: Rec, causes: StatusCause[]): void {
  checkTargetRef(spec.scaleTargetRef, causes);
  const min = typeof spec.minReplicas === 'number' ? spec.minReplicas : 1;
  if (min < 1) causes.push(invalid('spec.minReplicas', min, 'must be greater than or equal to 1'));
  if (typeof spec.maxReplicas === 'number') {
    if (spec.maxReplicas < 1) causes.push(invalid('spec.maxReplicas', spec.maxReplicas, 'must be greater than 0'));
    else if (spec.maxReplicas < min)
      causes.push(invalid('spec.maxReplicas', spec.maxReplicas, 'must be greater than or equal to `minReplicas`'));
  }
  const metrics = Array.isArray(spec.metrics) ? spec.metrics : [];
  metrics.forEach((m, i) => {
    if (isRec(m)) checkMetric(m, `spec.metrics[${i}]`, causes);
  });
  if (isRec(spec.behavior)) {
    checkRules(spec.behavior.scaleUp, 'spec.behavior.scaleUp', causes);
    checkRules(spec.behavior.scaleDown, 'spec.behavior.scaleDown', causes);
  }
}

function checkTargetRef(ref: unknown, causes: StatusCause[]): void {
  if (!isRec(ref)) return;
  const at = 'spec.scaleTargetRef';
  if (typeof ref.kind === 'string' && !(SCALE_TARGET_KINDS as readonly string[]).includes(ref.kind))
    causes.push(notSupported(`${at}.kind`, ref.kind, SCALE_TARGET_KINDS));
  if (ref.apiVersion !== undefined && ref.apiVersion !== 'apps/v1')
    causes.push(notSupported(`${at}.apiVersion`, ref.apiVersion, ['apps/v1']));
  if (ref.name === '') causes.push(required(`${at}.name`));
}

function checkMetric(m: Rec, at: string, causes: StatusCause[]): void {
  const type = m.type as string;
  if (!(SUPPORTED_METRIC_TYPES as readonly string[]).includes(type)) {
    if ((METRIC_TYPES as readonly string[]).includes(type))
      causes.push(
        notSupported(`${at}.type`, type, SUPPORTED_METRIC_TYPES),
        // Named too, so the refusal points at the source the manifest spells out.
        forbidden(
          `${at}.${SOURCE_FIELD[type]}`,
          `${type} metrics need a custom or external metrics API, which ferry does not serve; use Resource or ContainerResource (cpu, memory)`,
        ),
      );
    return;
  }
  const own = SOURCE_FIELD[type] as string;
  for (const field of Object.values(SOURCE_FIELD)) {
    if (field !== own && m[field] !== undefined)
      causes.push(forbidden(`${at}.${field}`, `must populate the given metric source only (type ${type})`));
  }
  const source = m[own];
  if (!isRec(source)) {
    causes.push(required(`${at}.${own}`, `must populate information for the given metric source (type ${type})`));
    return;
  }
  const sat = `${at}.${own}`;
  if (typeof source.name === 'string' && !(METRIC_RESOURCES as readonly string[]).includes(source.name))
    causes.push(notSupported(`${sat}.name`, source.name, METRIC_RESOURCES));
  if (type === 'ContainerResource' && source.container === '') causes.push(required(`${sat}.container`));
  if (isRec(source.target)) checkTarget(source.target, `${sat}.target`, causes);
}

function checkTarget(t: Rec, at: string, causes: StatusCause[]): void {
  if (t.type === 'Value') {
    causes.push(notSupported(`${at}.type`, t.type, ['Utilization', 'AverageValue']));
    return;
  }
  if (t.value !== undefined) causes.push(forbidden(`${at}.value`, 'may only be set when type is Value'));
  if (t.type === 'Utilization') {
    if (t.averageUtilization === undefined)
      causes.push(required(`${at}.averageUtilization`, 'must set averageUtilization when type is Utilization'));
    else if ((t.averageUtilization as number) <= 0)
      causes.push(invalid(`${at}.averageUtilization`, t.averageUtilization, 'must be greater than 0'));
    if (t.averageValue !== undefined)
      causes.push(forbidden(`${at}.averageValue`, 'may not set both a target raw value and a target utilization'));
  }
  if (t.type === 'AverageValue') {
    if (t.averageValue === undefined)
      causes.push(required(`${at}.averageValue`, 'must set averageValue when type is AverageValue'));
    else checkPositive(t.averageValue, `${at}.averageValue`, causes);
    if (t.averageUtilization !== undefined)
      causes.push(forbidden(`${at}.averageUtilization`, 'may only be set when type is Utilization'));
  }
}

function checkPositive(q: unknown, at: string, causes: StatusCause[]): void {
  const problem = quantityProblem(q);
  if (problem) causes.push(invalid(at, q, problem));
  else if (parseQuantity(q as string | number) <= 0) causes.push(invalid(at, q, 'must be positive'));
}

function checkRules(rules: unknown, at: string, causes: StatusCause[]): void {
  if (!isRec(rules)) return;
  const window = rules.stabilizationWindowSeconds;
  if (typeof window === 'number' && (window < 0 || window > MAX_STABILIZATION_WINDOW_SECONDS))
    causes.push(
      invalid(
        `${at}.stabilizationWindowSeconds`,
        window,
        `must be greater than or equal to zero and less than or equal to ${MAX_STABILIZATION_WINDOW_SECONDS}`,
      ),
    );
  if (rules.tolerance !== undefined)
    causes.push(
      forbidden(
        `${at}.tolerance`,
        'a per-rule tolerance is an alpha field ferry does not honour (the tolerance is 10%)',
      ),
    );
  const policies = Array.isArray(rules.policies) ? rules.policies : [];
  if (Array.isArray(rules.policies) && policies.length === 0 && rules.selectPolicy !== 'Disabled')
    causes.push(invalidMessage(`${at}.policies`, 'Required value: must specify at least one Policy'));
  policies.forEach((p, i) => {
    if (!isRec(p)) return;
    const pat = `${at}.policies[${i}]`;
    if (typeof p.value === 'number' && p.value <= 0)
      causes.push(invalid(`${pat}.value`, p.value, 'must be greater than zero'));
    if (typeof p.periodSeconds === 'number' && (p.periodSeconds <= 0 || p.periodSeconds > MAX_PERIOD_SECONDS))
      causes.push(
        invalid(
          `${pat}.periodSeconds`,
          p.periodSeconds,
          `must be greater than zero and less than or equal to ${MAX_PERIOD_SECONDS}`,
        ),
      );
  });
}
