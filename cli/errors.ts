/**
 * The CLI's expected failures. `run()` prints each as one line on stderr (plus one line per field
 * cause for 422s) and maps it to an exit code; anything else is a bug and gets a stack trace.
 *
 * Exit codes: 2 when the command line itself is wrong (unknown flag or kind, bad `-o` or `--ttl`),
 * 1 for everything else (API errors, unreachable server, unreadable or malformed manifests).
 */

export interface StatusCause {
  field?: string;
  message: string;
  reason?: string;
}

/** A Kubernetes `Status` body as the API returns it on failure. */
export interface Status {
  kind: 'Status';
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; group?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** Extra lines printed after `error: message`, e.g. one per field cause. */
    readonly detailLines: string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A non-2xx answer from the API; carries the HTTP status and the `Status` body when there was one. */
export class ApiError extends CliError {
  constructor(
    readonly httpStatus: number,
    readonly status: Status | undefined,
    message: string,
    detailLines: string[] = [],
  ) {
    super(message, 1, detailLines);
  }

  static from(httpStatus: number, body: unknown, what: string): ApiError {
    const status = isStatus(body) ? body : undefined;
    const causes = status?.details?.causes ?? [];
    let message = status?.message || `${what}: HTTP ${httpStatus}`;
    if (httpStatus === 422 && causes.length > 0) {
      // The message repeats every cause after a colon; show them one per line instead.
      const first = causes[0];
      const cut = first ? message.indexOf(first.field ? `${first.field}: ${first.message}` : first.message) : -1;
      if (cut > 0) message = `${message.slice(0, cut).replace(/[\s:,]+$/, '')}:`;
      return new ApiError(httpStatus, status, message, causes.map(formatCause));
    }
    return new ApiError(httpStatus, status, message);
  }
}

function formatCause(cause: StatusCause): string {
  return cause.field ? `  ${cause.field}: ${cause.message}` : `  ${cause.message}`;
}

function isStatus(body: unknown): body is Status {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'Status';
}
