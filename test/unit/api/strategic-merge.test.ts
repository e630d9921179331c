/** Strategic merge patch as kubectl sends it: lists merged on their keys, and its directives. */
import { describe, expect, it } from 'vitest';
import { strategicMergePatch } from '../../../functions/api/strategic-merge';

const deployment = {
  kind: 'Deployment',
  spec: {
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'app:1',
            args: ['--a', '--b'],
            ports: [{ containerPort: 8080, name: 'http' }],
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
          },
          { name: 'sidecar', image: 'proxy:1' },
        ],
      },
    },
  },
};

describe('strategic merge patch', () => {
  it('changes one container by name (kubectl apply of a new image), keeping its other fields and order', () => {
    // act
    const out = strategicMergePatch('Deployment', deployment, {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
            containers: [{ name: 'app', image: 'app:2', env: [{ name: 'C', value: '3' }] }],
          },
        },
      },
    }) as typeof deployment;

    // assess
    const [app, sidecar] = out.spec.template.spec.containers;
    expect(app).toMatchObject({ name: 'app', image: 'app:2', args: ['--a', '--b'], ports: [{ containerPort: 8080 }] });
    expect(app?.env?.map((e) => e.name)).toEqual(['A', 'B', 'C']);
    expect(sidecar).toEqual({ name: 'sidecar', image: 'proxy:1' });
    expect(deployment.spec.template.spec.containers[0]?.image).toBe('app:1'); // input untouched
  });

  it('deletes list elements with $patch: delete, replaces plain lists, and drops map keys set to null', () => {
    // act
    const out = strategicMergePatch('Deployment', deployment, {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'sidecar', $patch: 'delete' },
              { name: 'app', args: ['--c'], env: [{ name: 'A', $patch: 'delete' }], ports: null },
            ],
          },
        },
      },
    }) as typeof deployment;

    // assess
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'app', image: 'app:1', args: ['--c'], env: [{ name: 'B', value: '2' }] },
    ]);
  });

  it('merges Service ports on port, and keeps only $retainKeys in a map (a strategy type change)', () => {
    // act
    const svc = strategicMergePatch(
      'Service',
      { kind: 'Service', spec: { ports: [{ port: 80, nodePort: 30080, targetPort: 8080 }] } },
      {
        spec: {
          ports: [
            { port: 80, targetPort: 9090 },
            { port: 443, targetPort: 8443 },
          ],
        },
      },
    ) as { spec: { ports: unknown[] } };
    const recreate = strategicMergePatch('Deployment', deployment, {
      spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } },
    }) as typeof deployment;

    // assess
    expect(svc.spec.ports).toEqual([
      { port: 80, nodePort: 30080, targetPort: 9090 },
      { port: 443, targetPort: 8443 },
    ]);
    expect(recreate.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('merges finalizers as a set and removes with $deleteFromPrimitiveList', () => {
    // act
    const out = strategicMergePatch(
      'ConfigMap',
      { kind: 'ConfigMap', metadata: { finalizers: ['a', 'b'] } },
      { metadata: { finalizers: ['c', 'a'], '$deleteFromPrimitiveList/finalizers': ['b'] } },
    ) as { metadata: { finalizers: string[] } };

    // assess
    expect(out.metadata.finalizers).toEqual(['a', 'c']);
  });

  it('rejects unknown directives and keyed elements without their key', () => {
    expect(() => strategicMergePatch('Deployment', deployment, { spec: { $patch: 'explode' } })).toThrow(
      /unknown \$patch/,
    );
    expect(() => strategicMergePatch('Deployment', deployment, { $magic: 1 })).toThrow(/unknown directive/);
    expect(() =>
      strategicMergePatch('Deployment', deployment, { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }),
    ).toThrow(/spec.template.spec.containers: each element must be an object with "name"/);
  });
});
