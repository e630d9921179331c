/**
 * Pod Security Admission's policy: a namespace's `pod-security.kubernetes.io/<mode>` labels pick a
 * level (privileged, baseline, restricted) per mode — enforce refuses, warn answers with a
 * `Warning:` header, audit logs — and a pod (or a workload's pod template) is measured against them.
 * https://kubernetes.io/docs/concepts/security/pod-security-admission/
 *
 * ferry's defaults differ from Kubernetes' in one way: a namespace without an enforce label is
 * enforced at `baseline` (Kubernetes' built-in default is `privileged`), so a tenant gets no host
 * access unless an admin labels its namespace `privileged`. ferry implements one version of the
 * standards (Kubernetes 1.30's): `<mode>-version` labels are checked for form (`latest`, `v1.N`)
 * and otherwise evaluated as `latest`.
 */
import type { StatusCause } from '../../errors';
import type { Obj } from '../../store/types';
import { BASELINE_CHECKS, type CheckResult, type PodShape, RESTRICTED_CHECKS } from './checks';

export const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type Level = (typeof LEVELS)[number];
export const MODES = ['enforce', 'warn', 'audit'] as const;
export type Mode = (typeof MODES)[number];

export const PSA_LABEL_PREFIX = 'pod-security.kubernetes.io/';
/** ferry's default enforce level (see the file comment). */
export const DEFAULT_ENFORCE: Level = 'baseline';

export interface ModeLevel {
  level: Level;
  version: string;
}

export type NamespacePolicy = Record<Mode, ModeLevel | undefined>;

const VERSION = /^(latest|v1\.(0|[1-9][0-9]{0,2}))$/;

/** The namespace's policy from its labels; call `labelProblems` first for user input. */
export function policyOf(labels: Record<string, string> | undefined): NamespacePolicy {
  const at = (mode: Mode): ModeLevel | undefined => {
    const level = labels?.[`${PSA_LABEL_PREFIX}${mode}`];
    if (level === undefined || !(LEVELS as readonly string[]).includes(level)) return undefined;
    return { level: level as Level, version: labels?.[`${PSA_LABEL_PREFIX}${mode}-version`] ?? 'latest' };
  };
  return {
    enforce: at('enforce') ?? { level: DEFAULT_ENFORCE, version: 'latest' },
    warn: at('warn'),
    audit: at('audit'),
  };
}

/** 422 causes for pod-security labels with a value Kubernetes would not accept. */
export function labelProblems(labels: Record<string, string> | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!key.startsWith(PSA_LABEL_PREFIX)) continue;
    const name = key.slice(PSA_LABEL_PREFIX.length);
    const field = `metadata.labels[${key}]`;
    if ((MODES as readonly string[]).includes(name)) {
      if (!(LEVELS as readonly string[]).includes(value))
        causes.push({
          field,
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${LEVELS.map((l) => `"${l}"`).join(', ')}`,
        });
    } else if (MODES.some((m) => name === `${m}-version`)) {
      if (!VERSION.test(value))
        causes.push({
          field,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(value)}: must be "latest" or "v1.<minor>"`,
        });
    } else {
      causes.push({
        field,
        reason: 'FieldValueNotSupported',
        message: `unknown pod-security label: the modes are enforce, warn and audit (and <mode>-version)`,
      });
    }
  }
  return causes;
}

/** The pod an object runs, with the path to it: the Pod itself or a workload's pod template. */
export function podOf(obj: Obj): { path: string; pod: PodShape } | undefined {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const template = (t: unknown, path: string) => {
    const rec = (t ?? {}) as { metadata?: PodShape['metadata']; spec?: Record<string, unknown> };
    return rec.spec ? { path, pod: { metadata: rec.metadata, spec: rec.spec } } : undefined;
  };
  switch (obj.kind) {
    case 'Pod':
      return { path: '', pod: { metadata: obj.metadata as PodShape['metadata'], spec } };
    case 'Deployment':
    case 'ReplicaSet':
    case 'Job':
      return template(spec.template, 'spec.template');
    case 'CronJob':
      return template(
        ((spec.jobTemplate ?? {}) as { spec?: { template?: unknown } }).spec?.template,
        'spec.jobTemplate.spec.template',
      );
    default:
      return undefined;
  }
}

/** What `level` forbids in `pod` (empty when it complies). */
export function evaluate(level: Level, pod: PodShape): CheckResult[] {
  if (level === 'privileged') return [];
  const checks = level === 'baseline' ? BASELINE_CHECKS : RESTRICTED_CHECKS;
  return checks.map((c) => c(pod)).filter((r): r is CheckResult => r !== undefined);
}

/** Kubernetes' phrasing: `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), ...`. */
export function describeViolations(at: ModeLevel, results: CheckResult[]): string {
  return `PodSecurity "${at.level}:${at.version}": ${results.map((r) => `${r.reason} (${r.detail})`).join(', ')}`;
}
