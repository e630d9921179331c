/** Small builders over TypeBox so every object schema rejects unknown fields (additionalProperties: false). */
import { type TProperties, Type } from 'typebox';

export const Obj = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
export const Opt = Type.Optional;
export const Str = (opts: { maxLength?: number; pattern?: string; description?: string } = {}) => Type.String(opts);
/**
 * Kubernetes types its counts and ports int32 or int64, and a value outside the type is refused
 * (a replicas of 2^31 would be a 422, not 2 billion pods). `Int` is int32 unless bounded tighter;
 * `Int64` is for fields Kubernetes types int64 (seconds, generations), bounded by the integers a
 * JavaScript number holds exactly (2^53-1: a deviation from int64's 2^63-1 that no real value meets).
 */
export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
type IntOpts = { minimum?: number; maximum?: number; description?: string };
export const Int = (opts: IntOpts = {}) => Type.Integer({ minimum: INT32_MIN, maximum: INT32_MAX, ...opts });
export const Int64 = (opts: IntOpts = {}) =>
  Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, ...opts });
export const Bool = () => Type.Boolean();
export const StrMap = () => Type.Record(Type.String(), Type.String());
/** Kubernetes IntOrString (ports by name, percentages). */
export const IntOrString = () => Type.Union([Int(), Type.String({ maxLength: 253 })]);
/** A port as IntOrString (a Service's targetPort, a probe's port): 1-65535 or a port name. */
export const PortOrName = () => Type.Union([Int({ minimum: 1, maximum: 65535 }), Type.String({ maxLength: 15 })]);
/** A resource quantity: `100m`, `1.5`, `128Mi`, or a plain number. */
/** The string form's grammar and the bounds are checked by rules/pod.ts (quantity.ts), with a message that shows examples. */
export const Quantity = () => Type.Union([Type.String({ maxLength: 64 }), Type.Number()]);
export const ResourceList = () => Type.Record(Type.String(), Quantity());
export const Time = () => Type.String({ description: 'RFC 3339 date and time' });
export const Enum = <const T extends string[]>(values: readonly [...T]) => Type.Enum(values as [...T]);
/** Fields accepted for compatibility but not acted on by ferry yet (free-form). */
export const Free = () => Type.Record(Type.String(), Type.Unknown());
