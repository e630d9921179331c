/**
 * The one error module of the control plane. Every error that crosses a module boundary is one of
 * these; native errors (SQLite, AWS SDK, Docker) are translated at the file that calls them.
 * `functions/api/http-errors.ts` is the single translator from these to HTTP responses.
 *
 * Field names follow the Kubernetes `Status` object: `reason` is a StatusReason, `causes` are
 * StatusCause entries whose `field` is a path such as `spec.template.spec.containers[0].image`.
 */
import type { Obj } from '../schemas/object';
import type { StatusCause, StatusDetails, StatusReason } from '../schemas/status';

export type { StatusCause, StatusDetails, StatusReason } from '../schemas/status';

export class FerryError extends Error {
  constructor(
    readonly status: number,
    readonly reason: StatusReason,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends FerryError {
  constructor(message: string, details?: StatusDetails) {
    super(400, 'BadRequest', message, details);
  }
}

export class UnauthorizedError extends FerryError {
  constructor(message = 'Unauthorized') {
    super(401, 'Unauthorized', message);
  }
}

export class ForbiddenError extends FerryError {
  constructor(message: string) {
    super(403, 'Forbidden', message);
  }
}

export class NotFoundError extends FerryError {
  constructor(kind: string, name: string, message?: string) {
    super(404, 'NotFound', message ?? `${kind.toLowerCase()} "${name}" not found`, { kind, name });
  }
}

export class AlreadyExistsError extends FerryError {
  constructor(kind: string, name: string) {
    super(409, 'AlreadyExists', `${kind.toLowerCase()} "${name}" already exists`, { kind, name });
  }
}

/**
 * Optimistic-concurrency failure. Carries what is stored now (like kine's Update returning the
 * current record) so a caller can rebase and retry without another read.
 */
export class ConflictError extends FerryError {
  constructor(
    kind: string,
    name: string,
    readonly current: Obj | undefined,
    message?: string,
  ) {
    super(
      409,
      'Conflict',
      message ??
        `Operation cannot be fulfilled on ${kind.toLowerCase()} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { kind, name },
    );
  }
}

/** Schema or semantic validation failure: 422 with one cause per field at fault. */
export class InvalidError extends FerryError {
  constructor(kind: string, name: string, causes: StatusCause[]) {
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
    super(422, 'Invalid', `${kind} "${name}" is invalid: ${list}`, { kind, name, causes });
  }
}

export class MethodNotAllowedError extends FerryError {
  constructor(method: string, path: string) {
    super(405, 'MethodNotAllowed', `method ${method} is not supported on ${path}`);
  }
}

export class PayloadTooLargeError extends FerryError {
  constructor(limitBytes: number) {
    super(413, 'RequestEntityTooLarge', `request body is larger than the limit of ${limitBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends FerryError {
  constructor(contentType: string) {
    super(415, 'UnsupportedMediaType', `content type ${JSON.stringify(contentType)} is not supported`);
  }
}

export class TimeoutError extends FerryError {
  constructor(message: string) {
    super(504, 'Timeout', message);
  }
}

export class InternalError extends FerryError {
  /** @param shown the message is for the caller (Kubernetes says it too), not only the log. */
  constructor(
    message = 'internal error',
    readonly shown = false,
  ) {
    super(500, 'InternalError', message);
  }
}

/** 429: the request is refused for now (an eviction a disruption budget forbids); try again later. */
export class TooManyRequestsError extends FerryError {
  constructor(message: string, retryAfterSeconds: number, causes: StatusCause[] = []) {
    super(429, 'TooManyRequests', message, {
      ...(causes.length > 0 ? { causes } : {}),
      ...(retryAfterSeconds > 0 ? { retryAfterSeconds } : {}),
    });
  }
}

export function isTooManyRequests(err: unknown): err is TooManyRequestsError {
  return err instanceof TooManyRequestsError;
}

export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

export function isConflict(err: unknown): err is ConflictError {
  return err instanceof ConflictError;
}

/**
 * A write that lost a race: the object moved (409) or went (404) since it was read. Controllers
 * and claim writers let such a write go, since the next pass reads again.
 */
export function isLostRace(err: unknown): err is ConflictError | NotFoundError {
  return isConflict(err) || isNotFound(err);
}

export function isAlreadyExists(err: unknown): err is AlreadyExistsError {
  return err instanceof AlreadyExistsError;
}
