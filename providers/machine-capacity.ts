/**
 * The per-type cache behind every adapter's `machineCapacity`: an instance type's size does not
 * change, so each is asked of the cloud once. A failed or nonsensical answer is "unknown" and is
 * not cached (the next machine asks again); it never throws, since a missing catalogue entry must
 * not stop a pool from making machines (registration then falls back to its bounds).
 */
import type { MachineCapacity } from './types';

const MIB = 2 ** 20;

/** What an adapter's lookup returns: vCPUs and memory in MiB, as the clouds' catalogues give them. */
export type RawMachineSize = { cpu: unknown; memoryMiB: unknown } | undefined;

export class MachineCatalogue {
  private readonly known = new Map<string, MachineCapacity>();

  constructor(private readonly lookup: (instanceType: string, zone: string) => Promise<RawMachineSize>) {}

  async get(instanceType: string, zone: string): Promise<MachineCapacity | undefined> {
    const cached = this.known.get(instanceType);
    if (cached) return cached;
    let raw: RawMachineSize;
    try {
      raw = await this.lookup(instanceType, zone);
    } catch {
      return undefined;
    }
    const size = checked(raw);
    if (size) this.known.set(instanceType, size);
    return size;
  }
}

/** Positive whole numbers only: a catalogue answering 0, -1 or "8" is not believed. */
function checked(raw: RawMachineSize): MachineCapacity | undefined {
  if (!raw) return undefined;
  const { cpu, memoryMiB } = raw;
  if (typeof cpu !== 'number' || !Number.isSafeInteger(cpu) || cpu <= 0) return undefined;
  if (typeof memoryMiB !== 'number' || !Number.isSafeInteger(memoryMiB) || memoryMiB <= 0) return undefined;
  return { cpu, memory: memoryMiB * MIB };
}
