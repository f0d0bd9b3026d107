/** Every error the coordinator's HTTP API answers with: status and a stable `error` code. */
export const API_ERRORS = {
  malformed_json: 400,
  json_too_deep: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  duplicate_id_conflict: 409,
  report_body_conflict: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  invalid_report: 422,
  duplicate_key: 422,
  invalid_approval: 422,
  rate_limited: 429,
  internal: 500,
  shutting_down: 503,
  store_unavailable: 503,
} as const;

/** A stable code of the API's error catalogue. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** An error the API answers as `{error, message}` with the catalogue's status; never logged as a fault. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly error: ApiErrorCode;
  readonly statusCode: number;
  /** Extra response headers (WWW-Authenticate for 401). */
  readonly headers: Record<string, string>;
  /** Extra fields of the JSON body, e.g. the offending `path` of a 422. */
  readonly details: Record<string, unknown>;

  constructor(
    error: ApiErrorCode,
    message: string,
    extra: { headers?: Record<string, string>; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.error = error;
    this.statusCode = API_ERRORS[error];
    this.headers = extra.headers ?? {};
    this.details = extra.details ?? {};
  }
}

/** Type guard for ApiError. */
export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}
