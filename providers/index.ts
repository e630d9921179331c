/**
 * The provider of a Cloud, by its type. Each cloud SDK is imported only when a Cloud of that type
 * is used (the GCP client alone takes seconds to load), and a provider is kept per Cloud
 * configuration, so a controllers pass does not build clients again. `local` is the control
 * plane's own LocalProvider (made by `ferry up`), passed in: it cannot be built from a Cloud's spec.
 */
import { createHash } from 'node:crypto';
import type { LocalProvider } from './local';
import { type CloudConfig, CloudConfigError, type CloudProvider } from './types';

/** Providers by a hash of their configuration (credentials included, so a rotated Secret makes a new one). */
const providers = new Map<string, Promise<CloudProvider>>();
const MAX_PROVIDERS = 32;

export async function providerFor(config: CloudConfig, local?: CloudProvider): Promise<CloudProvider> {
  if (config.type === 'local') {
    if (!local) throw new CloudConfigError(`cloud ${config.name}: type local works only under ferry up`);
    // Each local Cloud gets its own view (its own load balancers) of the one local provider.
    return (local as Partial<Pick<LocalProvider, 'forCloud'>>).forCloud?.(config.name) ?? local;
  }
  const key = createHash('sha256').update(JSON.stringify(config)).digest('hex');
  let provider = providers.get(key);
  if (!provider) {
    provider = build(config);
    providers.set(key, provider);
    provider.catch(() => providers.delete(key));
    if (providers.size > MAX_PROVIDERS) providers.delete(providers.keys().next().value as string);
  }
  return provider;
}

async function build(config: CloudConfig): Promise<CloudProvider> {
  switch (config.type) {
    case 'aws':
      return new (await import('./aws')).AwsProvider(config);
    case 'gcp':
      return new (await import('./gcp')).GcpProvider(config);
    case 'azure':
      return new (await import('./azure')).AzureProvider(config);
    default:
      throw new CloudConfigError(`cloud ${config.name}: spec.type ${JSON.stringify(config.type)} has no provider yet`);
  }
}
