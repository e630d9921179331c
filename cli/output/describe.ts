/**
 * `ferry describe` text, after kubectl's describers (k8s.io/kubectl/pkg/describe): the common
 * metadata, the fields of the kind a person looks for first, then the object's Events.
 * Kinds without a describer show their spec and status as YAML.
 */
import { age } from '../../schemas/printers/age';
import { nodeStatus, podStatus } from '../../schemas/printers/columns';
import { arr, at, type Loose, labelsString, num, record, selectorString, str } from '../../schemas/printers/fields';
import { AUTOSCALING_DESCRIBERS } from './describe-hpa';
import { mapLines, metadataPairs, type Pairs, pairs } from './describe-pairs';
import { RBAC_DESCRIBERS } from './describe-rbac';
import { toYaml } from './print';
import { renderTable } from './table';

function containerLines(containers: Loose[], statuses: Loose[], indent: string): string[] {
  if (containers.length === 0) return [`${indent}<none>`];
  const lines: string[] = [];
  for (const c of containers) {
    const cname = str(c, 'name');
    const status = statuses.find((s) => s.name === cname);
    const ports = arr(c, 'ports').map((p) => `${num(p, 'containerPort')}/${str(p, 'protocol', 'TCP')}`);
    const rows: Pairs = [
      ['Image', str(c, 'image')],
      ['Port', ports.join(', ') || '<none>'],
    ];
    const limits = record(c, 'resources.limits');
    const requests = record(c, 'resources.requests');
    if (Object.keys(limits).length) rows.push(['Limits', labelsString(limits).replaceAll(',', ', ')]);
    if (Object.keys(requests).length) rows.push(['Requests', labelsString(requests).replaceAll(',', ', ')]);
    if (status) {
      const state = status.state as Loose | undefined;
      const stateName = state ? (Object.keys(state)[0] ?? 'Unknown') : 'Unknown';
      const reason = str(state, `${stateName}.reason`);
      rows.push(['State', `${stateName[0]?.toUpperCase()}${stateName.slice(1)}${reason ? ` (${reason})` : ''}`]);
      rows.push(['Ready', String(status.ready === true)]);
      rows.push(['Restart Count', String(num(status, 'restartCount'))]);
    }
    const env = arr(c, 'env');
    if (env.length) {
      rows.push(['Environment', '']);
    }
    lines.push(`${indent}${cname}:`, ...pairs(rows, `${indent}  `));
    for (const e of env)
      lines.push(`${indent}    ${str(e, 'name')}:  ${e.value !== undefined ? str(e, 'value') : '<set from a source>'}`);
  }
  return lines;
}

function conditionLines(obj: Loose): string[] {
  const conditions = arr(obj, 'status.conditions');
  if (conditions.length === 0) return [];
  return [
    'Conditions:',
    ...renderTable(
      ['Type', 'Status', 'Reason', 'Message'],
      conditions.map((c) => [str(c, 'type'), str(c, 'status'), str(c, 'reason'), str(c, 'message')]),
    )
      .split('\n')
      .map((l) => `  ${l}`),
  ];
}

function ownerLine(obj: Loose): Pairs {
  const owner = arr(obj, 'metadata.ownerReferences').find((o) => o.controller === true);
  return owner ? [['Controlled By', `${str(owner, 'kind')}/${str(owner, 'name')}`]] : [];
}

function describePod(o: Loose): string[] {
  return [
    ...pairs([
      ...metadataPairs(o),
      ['Node', str(o, 'spec.nodeName', '<none>')],
      ['Status', podStatus(o)],
      ['IP', str(o, 'status.podIP', '<none>')],
      ...ownerLine(o),
    ]),
    'Containers:',
    ...containerLines(arr(o, 'spec.containers'), arr(o, 'status.containerStatuses'), '  '),
    ...conditionLines(o),
  ];
}

function replicasLine(o: Loose): string {
  const desired = num(o, 'spec.replicas', 1);
  const total = num(o, 'status.replicas');
  const available = num(o, 'status.availableReplicas');
  return `${desired} desired | ${num(o, 'status.updatedReplicas')} updated | ${total} total | ${available} available | ${num(o, 'status.unavailableReplicas', Math.max(0, total - available))} unavailable`;
}

function podTemplateLines(o: Loose): string[] {
  return [
    'Pod Template:',
    ...pairs(mapLines('Labels', record(o, 'spec.template.metadata.labels')), '  '),
    '  Containers:',
    ...containerLines(arr(o, 'spec.template.spec.containers'), [], '   '),
  ];
}

function describeDeployment(o: Loose): string[] {
  const strategy = str(o, 'spec.strategy.type', 'RollingUpdate');
  const rows: Pairs = [
    ...metadataPairs(o),
    ['Selector', selectorString(at(o, 'spec.selector'))],
    ['Replicas', replicasLine(o)],
    ['StrategyType', strategy],
    ['MinReadySeconds', String(num(o, 'spec.minReadySeconds'))],
  ];
  if (strategy === 'RollingUpdate') {
    rows.push([
      'RollingUpdateStrategy',
      `${str(o, 'spec.strategy.rollingUpdate.maxUnavailable', '25%')} max unavailable, ${str(o, 'spec.strategy.rollingUpdate.maxSurge', '25%')} max surge`,
    ]);
  }
  return [...pairs(rows), ...podTemplateLines(o), ...conditionLines(o)];
}

function describeReplicaSet(o: Loose): string[] {
  return [
    ...pairs([
      ...metadataPairs(o),
      ['Selector', selectorString(at(o, 'spec.selector'))],
      ...ownerLine(o),
      ['Replicas', `${num(o, 'status.replicas')} current / ${num(o, 'spec.replicas', 1)} desired`],
      ['Pods Status', `${num(o, 'status.readyReplicas')} Ready / ${num(o, 'status.availableReplicas')} Available`],
    ]),
    ...podTemplateLines(o),
    ...conditionLines(o),
  ];
}

/** kubectl's DaemonSetDescriber: node counts, then pod counts by phase are in `get pods`. */
function describeDaemonSet(o: Loose): string[] {
  const strategy = str(o, 'spec.updateStrategy.type', 'RollingUpdate');
  const rows: Pairs = [
    ...metadataPairs(o),
    ['Selector', selectorString(at(o, 'spec.selector'))],
    ['Node-Selector', labelsString(record(o, 'spec.template.spec.nodeSelector'))],
    ['Desired Number of Nodes Scheduled', String(num(o, 'status.desiredNumberScheduled'))],
    ['Current Number of Nodes Scheduled', String(num(o, 'status.currentNumberScheduled'))],
    ['Number of Nodes Scheduled with Up-to-date Pods', String(num(o, 'status.updatedNumberScheduled'))],
    ['Number of Nodes Scheduled with Available Pods', String(num(o, 'status.numberAvailable'))],
    ['Number of Nodes Misscheduled', String(num(o, 'status.numberMisscheduled'))],
    ['Pods Ready', String(num(o, 'status.numberReady'))],
    ['Update Strategy', strategy],
  ];
  if (strategy === 'RollingUpdate') {
    rows.push([
      'RollingUpdateStrategy',
      `${str(o, 'spec.updateStrategy.rollingUpdate.maxUnavailable', '1')} max unavailable, ${str(o, 'spec.updateStrategy.rollingUpdate.maxSurge', '0')} max surge`,
    ]);
  }
  return [...pairs(rows), ...podTemplateLines(o), ...conditionLines(o)];
}

/** kubectl's PodDisruptionBudgetDescriber. */
function describePodDisruptionBudget(o: Loose): string[] {
  const min = at(o, 'spec.minAvailable');
  const max = at(o, 'spec.maxUnavailable');
  return [
    ...pairs([
      ...metadataPairs(o),
      ...(min !== undefined ? ([['Min available', String(min)]] as Pairs) : []),
      ...(max !== undefined ? ([['Max unavailable', String(max)]] as Pairs) : []),
      ['Selector', at(o, 'spec.selector') === undefined ? '<unset>' : selectorString(at(o, 'spec.selector'))],
      ['Unhealthy pod eviction policy', str(o, 'spec.unhealthyPodEvictionPolicy', 'IfHealthyBudget')],
      ['Status', ''],
      ['    Allowed disruptions', String(num(o, 'status.disruptionsAllowed'))],
      ['    Current', String(num(o, 'status.currentHealthy'))],
      ['    Desired', String(num(o, 'status.desiredHealthy'))],
      ['    Total', String(num(o, 'status.expectedPods'))],
    ]),
    ...conditionLines(o),
  ];
}

function describeService(o: Loose): string[] {
  return pairs([
    ...metadataPairs(o),
    ['Selector', labelsString(record(o, 'spec.selector'))],
    ['Type', str(o, 'spec.type', 'ClusterIP')],
    ['IP', str(o, 'spec.clusterIP', '<none>')],
    ...arr(o, 'status.loadBalancer.ingress').map((i): [string, string] => [
      'LoadBalancer Ingress',
      [
        str(i, 'ip') || str(i, 'hostname'),
        arr(i, 'ports')
          .map((p) => `${num(p, 'port')}/${str(p, 'protocol', 'TCP')}`)
          .join(','),
      ]
        .filter(Boolean)
        .join(' '),
    ]),
    ...arr(o, 'spec.ports').flatMap((p): [string, string][] => {
      const name = str(p, 'name', '<unset>');
      const protocol = str(p, 'protocol', 'TCP');
      return [
        ['Port', `${name}  ${num(p, 'port')}/${protocol}`],
        ['TargetPort', `${String(at(p, 'targetPort') ?? num(p, 'port'))}/${protocol}`],
        ['NodePort', `${name}  ${num(p, 'nodePort', 0) || '<none>'}/${protocol}`],
      ];
    }),
    ['Session Affinity', str(o, 'spec.sessionAffinity', 'None')],
  ]);
}

function describeNode(o: Loose): string[] {
  const taints = arr(o, 'spec.taints').map(
    (t) => `${str(t, 'key')}${t.value !== undefined ? `=${str(t, 'value')}` : ''}:${str(t, 'effect')}`,
  );
  const lines = pairs([
    ...metadataPairs(o),
    ['Status', nodeStatus(o)],
    ['Taints', taints.join(', ') || '<none>'],
    ['Unschedulable', String(at(o, 'spec.unschedulable') === true)],
  ]);
  lines.push(...conditionLines(o));
  for (const section of ['capacity', 'allocatable']) {
    const values = record(o, `status.${section}`);
    if (Object.keys(values).length === 0) continue;
    lines.push(`${section[0]?.toUpperCase()}${section.slice(1)}:`, ...pairs(Object.entries(values), '  '));
  }
  return lines;
}

/** kubectl's quota describer: one row per bounded resource, used against hard. */
function describeResourceQuota(o: Loose): string[] {
  const hard = record(o, 'spec.hard');
  const used = record(o, 'status.used');
  const rows = Object.keys(hard)
    .sort()
    .map((r) => [r, used[r] ?? '0', hard[r] ?? '']);
  const table = renderTable(['Resource', 'Used', 'Hard'], [['--------', '----', '----'], ...rows]);
  return [
    ...pairs([
      ['Name', str(o, 'metadata.name')],
      ['Namespace', str(o, 'metadata.namespace')],
    ]),
    ...table.split('\n'),
  ];
}

/** kubectl's limit range describer: a row per type and resource. */
function describeLimitRange(o: Loose): string[] {
  const rows: string[][] = [];
  for (const item of arr(o, 'spec.limits')) {
    const fields = ['min', 'max', 'defaultRequest', 'default', 'maxLimitRequestRatio'].map((f) => record(item, f));
    const resources = [...new Set(fields.flatMap((f) => Object.keys(f)))].sort();
    for (const r of resources) rows.push([str(item, 'type'), r, ...fields.map((f) => f[r] ?? '-')]);
  }
  const table = renderTable(
    ['Type', 'Resource', 'Min', 'Max', 'Default Request', 'Default Limit', 'Max Limit/Request Ratio'],
    [['----', '--------', '---', '---', '---------------', '-------------', '-----------------------'], ...rows],
  );
  return [
    ...pairs([
      ['Name', str(o, 'metadata.name')],
      ['Namespace', str(o, 'metadata.namespace')],
    ]),
    ...table.split('\n'),
  ];
}

function describeGeneric(o: Loose): string[] {
  const lines = pairs(metadataPairs(o));
  for (const key of Object.keys(o)) {
    if (['apiVersion', 'kind', 'metadata'].includes(key) || o[key] === undefined) continue;
    const yaml = toYaml(o[key]).trimEnd();
    lines.push(`${key[0]?.toUpperCase()}${key.slice(1)}:`, ...yaml.split('\n').map((l) => `  ${l}`));
  }
  return lines;
}

const DESCRIBERS: Record<string, (o: Loose) => string[]> = {
  Pod: describePod,
  Deployment: describeDeployment,
  ReplicaSet: describeReplicaSet,
  DaemonSet: describeDaemonSet,
  PodDisruptionBudget: describePodDisruptionBudget,
  Service: describeService,
  Node: describeNode,
  ResourceQuota: describeResourceQuota,
  LimitRange: describeLimitRange,
  ...RBAC_DESCRIBERS,
  ...AUTOSCALING_DESCRIBERS,
};

export function describeObject(kind: string, obj: Loose, events: Loose[], now = Date.now()): string {
  const body = (DESCRIBERS[kind] ?? describeGeneric)(obj);
  return [...body, ...eventLines(events, now)].join('\n');
}

function eventLines(events: Loose[], now: number): string[] {
  if (events.length === 0) return ['Events:  <none>'];
  const sorted = [...events].sort((a, b) => str(a, 'lastTimestamp').localeCompare(str(b, 'lastTimestamp')));
  const rows = sorted.map((e) => {
    const count = num(e, 'count', 1);
    const last = age(at(e, 'lastTimestamp') ?? at(e, 'metadata.creationTimestamp'), now);
    const when = count > 1 ? `${last} (x${count} over ${age(at(e, 'firstTimestamp'), now)})` : last;
    return [str(e, 'type'), str(e, 'reason'), when, str(e, 'source.component'), str(e, 'message')];
  });
  const table = renderTable(
    ['Type', 'Reason', 'Age', 'From', 'Message'],
    [['----', '------', '----', '----', '-------'], ...rows],
  );
  return ['Events:', ...table.split('\n').map((l) => `  ${l}`)];
}
