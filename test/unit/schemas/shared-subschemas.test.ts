/**
 * Subschemas shared across kinds compile once (schemas/shared-subschemas.ts), and validation
 * through the shared `$ref`s reports exactly what the inline schema reports.
 */
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { kinds } from '../../../schemas';
import { shareSubschemas } from '../../../schemas/shared-subschemas';

const options = { allErrors: true, strict: false, validateFormats: false, code: { source: true } } as const;
const badDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 1, madeUp: true, livenessProbe: { tcpSocket: { port: [] } } }] },
    },
  },
};

/** Generated validator source for every kind, shared subschemas' own code included. */
function sourceSize(share: boolean): number {
  const ajv = new Ajv(options);
  let n = 0;
  for (const info of kinds) {
    const v = ajv.compile(share ? shareSubschemas(ajv, info.schema) : info.schema);
    n += v.source?.validateCode.length ?? 0;
  }
  for (const id of Object.keys((ajv as unknown as { schemas: Record<string, unknown> }).schemas)) {
    if (id.startsWith('ferry:shared/')) n += ajv.getSchema(id)?.source?.validateCode.length ?? 0;
  }
  return n;
}

describe('shared subschemas', () => {
  it('report the same errors at the same data paths as the inline schema', () => {
    const info = kinds.find((k) => k.kind === 'Deployment');
    if (!info) throw new Error('no Deployment kind');
    const inline = new Ajv(options).compile(info.schema);
    const shared = new Ajv(options);
    const viaRefs = shared.compile(shareSubschemas(shared, info.schema));
    inline(badDeployment);
    viaRefs(badDeployment);
    const key = (e: { instancePath: string; keyword: string; params: unknown }) =>
      `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`;
    const expected = (inline.errors ?? []).map(key).sort();
    expect(expected.length).toBeGreaterThan(2);
    expect((viaRefs.errors ?? []).map(key).sort()).toEqual(expected);
  });

  it('compile the pod spec once for all kinds, not once per kind', () => {
    const inline = sourceSize(false);
    const shared = sourceSize(true);
    // Five kinds embed a PodSpec; compiled once, the generated code shrinks to well under half.
    expect(shared).toBeLessThan(inline / 2);
  });
});
