import { describe, expect, it } from 'vitest';
import { providerFor } from '../../../providers';
import { type CloudConfig, CloudConfigError } from '../../../providers/types';

const gcp: CloudConfig = { name: 'gcp-eu', type: 'gcp', project: 'acme-prod', options: { sourceImage: 'x' } };
const azure: CloudConfig = {
  name: 'az',
  type: 'azure',
  subscriptionId: 's',
  resourceGroup: 'rg',
  region: 'westeurope',
};

describe('providerFor', () => {
  it('builds each cloud type and keeps one provider per configuration', async () => {
    // act
    const [a, b, c] = [await providerFor(gcp), await providerFor({ ...gcp }), await providerFor(azure)];
    const rotated = await providerFor({ ...azure, credentials: { tenantId: 't', clientId: 'c', clientSecret: 'new' } });

    // assess
    expect([a.type, c.type]).toEqual(['gcp', 'azure']);
    expect(b).toBe(a);
    expect(rotated).not.toBe(c);
  });

  it('rejects a Cloud it cannot build, naming the field, and does not keep the failure', async () => {
    // act
    const missing = providerFor({ ...gcp, project: undefined } as CloudConfig);
    const local = providerFor({ name: 'l', type: 'local' });

    // assess
    await expect(missing).rejects.toThrow(CloudConfigError);
    await expect(missing).rejects.toThrow(/spec\.project/);
    await expect(local).rejects.toThrow(/only under ferry up/);
  });
});
