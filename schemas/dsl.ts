/** Small builders over TypeBox so every object schema rejects unknown fields (additionalProperties: false). */
import { type TProperties, Type } from 'typebox';

export const Obj = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
export const Opt = Type.Optional;
export const Str = (opts: { maxLength?: number; pattern?: string; description?: string } = {}) => Type.String(opts);
export const Int = (opts: { minimum?: number; maximum?: number; description?: string } = {}) => Type.Integer(opts);
export const Bool = () => Type.Boolean();
export const StrMap = () => Type.Record(Type.String(), Type.String());
/** Kubernetes IntOrString (ports by name, percentages). */
export const IntOrString = () => Type.Union([Type.Integer(), Type.String()]);
/** A resource quantity: `100m`, `1.5`, `128Mi`, or a plain number. */
/** The syntax of the string form is checked by validate.ts, with a message that shows examples. */
export const Quantity = () => Type.Union([Type.String({ maxLength: 64 }), Type.Number()]);
export const ResourceList = () => Type.Record(Type.String(), Quantity());
export const Time = () => Type.String({ description: 'RFC 3339 date and time' });
export const Enum = <const T extends string[]>(values: readonly [...T]) => Type.Enum(values as [...T]);
/** Fields accepted for compatibility but not acted on by ferry yet (free-form). */
export const Free = () => Type.Record(Type.String(), Type.Unknown());
