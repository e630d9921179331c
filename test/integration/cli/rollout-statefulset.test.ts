/**
 * `ferry rollout status statefulset/NAME` says what kubectl's StatefulSet status viewer says, from
 * the status fields the controller keeps: spec not yet observed, pods not ready, a partitioned
 * roll out, an update still going, done; OnDelete sets have no rollout to follow.
 */
import { describe, expect, it } from 'vitest';
import { statefulSetVerdict } from '../../../cli/rollout-statefulset';
import type { StatefulSet } from '../../../schemas';

const set = (spec: Partial<StatefulSet['spec']>, status: StatefulSet['status'], generation = 1): StatefulSet =>
  ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', generation },
    spec: { replicas: 3, selector: {}, template: {}, ...spec },
    status,
  }) as StatefulSet;

describe('rollout status of a StatefulSet', () => {
  it.each([
    [
      'the spec not observed',
      set({}, { observedGeneration: 1 }, 2),
      'progressing',
      'Waiting for statefulset spec update to be observed...',
    ],
    [
      'pods not ready',
      set({}, { observedGeneration: 1, readyReplicas: 1 }),
      'progressing',
      'Waiting for 2 pods to be ready...',
    ],
    [
      'a partition not reached',
      set(
        { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } },
        { observedGeneration: 1, readyReplicas: 3, updatedReplicas: 1 },
      ),
      'progressing',
      'Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...',
    ],
    [
      'an update going on',
      set(
        {},
        {
          observedGeneration: 1,
          readyReplicas: 3,
          updatedReplicas: 2,
          currentRevision: 'web-a',
          updateRevision: 'web-b',
        },
      ),
      'progressing',
      'waiting for statefulset rolling update to complete 2 pods at revision web-b...',
    ],
    [
      'every pod at the revision',
      set(
        {},
        {
          observedGeneration: 1,
          readyReplicas: 3,
          currentReplicas: 3,
          currentRevision: 'web-b',
          updateRevision: 'web-b',
        },
      ),
      'done',
      'statefulset rolling update complete 3 pods at revision web-b...',
    ],
    [
      'OnDelete',
      set({ updateStrategy: { type: 'OnDelete' } }, {}),
      'failed',
      'rollout status is only available for RollingUpdate strategy type',
    ],
  ])('with %s', (_, s, state, message) => {
    const verdict = statefulSetVerdict(s);
    expect(verdict.state).toBe(state);
    expect(verdict.message).toBe(message);
  });
});
