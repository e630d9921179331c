/**
 * The provider of a Cloud, by its type. Each cloud SDK is imported only when a Cloud of that type
 * is used (the GCP client alone takes seconds to load). `local` is the control plane's own
 * LocalProvider (made by `ferry up`), passed in: it cannot be built from a Cloud's spec.
 */
import { type CloudConfig, CloudConfigError, type CloudProvider } from './types';

export async function providerFor(config: CloudConfig, local?: CloudProvider): Promise<CloudProvider> {
  switch (config.type) {
    case 'aws':
      return new (await import('./aws')).AwsProvider(config);
    case 'azure':
      return new (await import('./azure')).AzureProvider(config);
    case 'local':
      if (!local) throw new CloudConfigError(`cloud ${config.name}: type local works only under ferry up`);
      return local;
    default:
      throw new CloudConfigError(`cloud ${config.name}: spec.type ${JSON.stringify(config.type)} has no provider yet`);
  }
}
