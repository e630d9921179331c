/**
 * The Kubernetes `Status` vocabulary (reasons and causes): what every rejection says. On the
 * ground floor so validation (here in `schemas/`) and the error module (`functions/errors.ts`)
 * share it without an arrow pointing up.
 */

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'Timeout'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable';

export interface StatusCause {
  /** Kubernetes CauseType, e.g. FieldValueRequired, FieldValueInvalid, FieldValueNotSupported. */
  reason: string;
  message: string;
  /** Path of the field at fault, e.g. `spec.replicas` or `metadata.labels[app]`. */
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  /** 429 and some 5xx: when to try again (also sent as the `Retry-After` header). */
  retryAfterSeconds?: number;
}
