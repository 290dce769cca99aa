// The API's one error shape, `{"error":{"code","message","details":[{"field","problem"}]}}`,
// as a JavaScript error every query and mutation throws, plus the helpers that turn it
// into words and into per-field messages.

export interface FieldProblem {
  field: string;
  problem: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** The API's `code` (`invalid`, `not_found`, `unavailable`, …), or `network`. */
  readonly code: string;
  readonly details: FieldProblem[];
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, details: FieldProblem[], requestId: string | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Builds the error from a failed response's parsed body (whatever shape it has). */
export function apiErrorFrom(status: number, body: unknown, requestId: string | null = null): ApiError {
  const error = isRecord(body) && isRecord(body.error) ? body.error : null;
  const code = error && typeof error.code === "string" ? error.code : `http_${status}`;
  const message =
    error && typeof error.message === "string" && error.message !== ""
      ? error.message
      : typeof body === "string" && body.trim() !== ""
        ? body.trim()
        : `the panel API answered ${status}`;
  const details: FieldProblem[] = [];
  if (error && Array.isArray(error.details)) {
    for (const d of error.details as unknown[]) {
      if (isRecord(d) && typeof d.field === "string" && typeof d.problem === "string") {
        details.push({ field: d.field, problem: d.problem });
      }
    }
  }
  return new ApiError(status, code, message, details, requestId);
}

/** A request that never got an answer (API down, network gone). */
export function networkError(cause: unknown): ApiError {
  const why = cause instanceof Error ? `: ${cause.message}` : "";
  return new ApiError(0, "network", `The panel API cannot be reached${why}`, [], null);
}

/** What went wrong, in words, for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const base = error.status === 404 ? "Not found (or not yours to see)" : error.message;
    return error.requestId && error.status >= 500 ? `${base} (request id ${error.requestId})` : base;
  }
  if (error instanceof Error) return error.message;
  return "Something went wrong";
}
