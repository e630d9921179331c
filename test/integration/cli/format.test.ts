import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../../cli/duration';
import { parseManifests } from '../../../cli/manifests';
import { renderTable } from '../../../cli/output/table';
import { humanDuration } from '../../../schemas/printers/age';
import { COLUMNS } from '../../../schemas/printers/columns';

describe('cli formatting helpers', () => {
  it('prints ages the way kubectl does', () => {
    // act
    const ages = [5, 119, 192, 1020, 5 * 3600 + 180, 20 * 3600, 3 * 86400 + 4 * 3600, 12 * 86400].map((s) =>
      humanDuration(s * 1000),
    );

    // assess
    expect(ages).toEqual(['5s', '119s', '3m12s', '17m', '5h3m', '20h', '3d4h', '12d']);
  });

  it('parses durations such as 1h30m and refuses anything else', () => {
    // act
    const parsed = ['90s', '30m', '1h30m', '7d', 'soon', '1h ', '', '0s'].map(parseDurationSeconds);

    // assess
    expect(parsed).toEqual([90, 1800, 5400, 604800, undefined, undefined, undefined, undefined]);
  });

  it('shows a load balancer address, with its port when it could not take the Service port', () => {
    // prepare
    const svc = (ingress: unknown) => ({
      metadata: { name: 'web', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress } },
    });
    const row = (o: unknown) => COLUMNS.Service?.row(o as never, Date.parse('2026-01-01T00:00:05Z'));

    // act
    const own = row(svc([{ ip: '127.0.2.1', ports: [{ port: 80, protocol: 'TCP' }] }]));
    const moved = row(svc([{ ip: '127.0.2.1', ports: [{ port: 41234, protocol: 'TCP' }] }]));
    const pending = row(svc(undefined));

    // assess
    expect(own).toEqual(['web', 'LoadBalancer', '<none>', '127.0.2.1', '80:30080/TCP', '5s']);
    expect(moved?.[3]).toBe('127.0.2.1:41234');
    expect(pending?.[3]).toBe('<pending>');
  });

  it('aligns table columns three spaces apart', () => {
    // act
    const table = renderTable(
      ['NAME', 'AGE'],
      [
        ['web', '5s'],
        ['api-server', '3m'],
      ],
    );

    // assess
    expect(table).toBe('NAME         AGE\nweb          5s\napi-server   3m');
  });

  it('reads multi-document YAML and flattens Lists', () => {
    // act
    const manifests = parseManifests(
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n',
      'm.yaml',
    );

    // assess
    expect(manifests.map((m) => m.object.metadata.name)).toEqual(['a', 'b']);
    expect(manifests[0]?.source).toBe('m.yaml (document 1)');
  });

  it('refuses a manifest without kind or name, naming the fields', () => {
    // act
    const parse = () => parseManifests('apiVersion: v1\nmetadata: {}\n', 'x.yaml');

    // assess
    expect(parse).toThrow('x.yaml: kind, metadata.name: required');
  });
});
