/**
 * The `kubernetes` Service made again by the controllers, as kube-apiserver's controller does:
 * deleted or changed by a writer other than the API (a controller, a restore into the store), it
 * is back after the next pass that write triggers, locally through the watch and on Lambda
 * through the stream, at the first address of the configured range.
 */
import { describe, expect, it } from 'vitest';
import { parseServiceRange } from '../../../functions/cluster-ips';
import { createControllerManager } from '../../../functions/controllers/manager';
import { KUBERNETES_SERVICE, kubernetesServiceRanges } from '../../../functions/kubernetes-service';
import { createControllersHandler } from '../../../functions/runtime/lambda';
import type { Obj } from '../../../functions/store/types';
import { until } from '../../helpers/store-calls';
import { startApi } from '../api/harness';

const REF = { kind: 'Service', ...KUBERNETES_SERVICE };
type Spec = { type?: string; clusterIP?: string; ports?: { name?: string; port?: number; nodePort?: number }[] };
const specOf = (o: Obj | undefined) => (o as (Obj & { spec: Spec }) | undefined)?.spec;

/** A stream record of a Service written or removed (the table's keys: store/dynamodb-layout.ts). */
function serviceRecord(eventName: 'REMOVE' | 'MODIFY') {
  return {
    eventSource: 'aws:dynamodb',
    eventName,
    dynamodb: { Keys: { pk: { S: 'Service' }, sk: { S: 'default/kubernetes' } } },
  };
}

describe('the kubernetes Service and the controllers', () => {
  it('deleted outside the API, it is made again by the pass the delete triggers', async () => {
    // prepare
    const api = await startApi();
    const manager = createControllerManager(api.deps, {
      resyncMs: 3_600_000,
      debounceMs: 5,
      kubernetesService: kubernetesServiceRanges(api.deps.config),
    });
    manager.start();
    await until('the first pass', async () => Boolean(await api.store.get({ kind: 'IngressClass', name: 'ferry' })));
    const before = await api.store.get(REF);

    // act
    await api.store.delete(REF);

    // assess
    await until('the Service back', async () => Boolean(await api.store.get(REF)));
    await manager.stop();
    const after = await api.store.get(REF);
    expect(after?.metadata.uid).not.toBe(before?.metadata.uid);
    expect(specOf(after)).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1' });
    expect(specOf(after)?.ports).toMatchObject([{ name: 'https', port: 443 }]);
    expect((await api.send('GET', '/api/v1/namespaces/default/services/kubernetes')).status).toBe(200);
  });

  it('on Lambda: a stream record of its removal runs the pass that makes it again, in the configured range', async () => {
    const api = await startApi(undefined, { serviceRange: parseServiceRange('10.100.0.0/16') });
    const handler = createControllersHandler(api.deps, { kubernetesService: kubernetesServiceRanges(api.deps.config) });
    await handler({ source: 'aws.events' }, {} as never);
    await api.store.delete(REF);

    const out = await handler({ Records: [serviceRecord('REMOVE')] }, {} as never);

    expect(out.ran).toBe(true);
    expect(specOf(await api.store.get(REF))).toMatchObject({ type: 'ClusterIP', clusterIP: '10.100.0.1' });
  });

  it('its type and port changed outside the API are put back, its node port and added labels kept', async () => {
    const api = await startApi();
    const manager = createControllerManager(api.deps, { kubernetesService: kubernetesServiceRanges(api.deps.config) });
    await manager.runLeased();
    const stored = (await api.store.get(REF)) as Obj & { spec: Spec };
    const nodePort = stored.spec.ports?.[0]?.nodePort;
    await api.store.update({
      ...stored,
      metadata: { ...stored.metadata, labels: { ...stored.metadata.labels, team: 'platform' } },
      spec: { ...stored.spec, type: 'NodePort', ports: [{ name: 'web', port: 8080, nodePort }] },
    });

    manager.noteWrites(['Service']);
    await manager.runLeased();

    const after = await api.store.get(REF);
    expect(specOf(after)).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1' });
    expect(specOf(after)?.ports).toEqual([{ name: 'https', port: 443, protocol: 'TCP', targetPort: 443, nodePort }]);
    expect(after?.metadata.labels).toMatchObject({ team: 'platform', component: 'apiserver' });
  });

  it('a manager not given the ranges leaves it to the API rather than guess the range', async () => {
    const api = await startApi(undefined, { serviceRange: parseServiceRange('10.100.0.0/16') });
    const manager = createControllerManager(api.deps);
    await api.store.delete(REF);

    await manager.runOnce();

    expect(await api.store.get(REF)).toBeUndefined();
  });
});
