/** ConfigMap and Secret keys become env var names and file names: Kubernetes' IsConfigMapKey. */
import { invalid } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

export function isConfigKey(k: string): boolean {
  return k.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(k) && k !== '.' && !k.startsWith('..');
}

export function checkConfigData(obj: Rec, causes: StatusCause[]): void {
  for (const field of ['data', 'stringData', 'binaryData']) {
    const data = obj[field];
    if (!isRec(data)) continue;
    for (const k of Object.keys(data)) {
      if (!isConfigKey(k))
        causes.push(
          invalid(
            `${field}[${k}]`,
            k,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.', and must not be '.' or start with '..'",
          ),
        );
    }
  }
}
