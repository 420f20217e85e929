// Typed errors the services throw; the error middleware maps each to its status and a message a person understands.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Sent with the error answer (Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends HttpError {
  constructor(message: string, code = 'invalid_request') {
    super(400, code, message);
  }
}
export class AuthenticationError extends HttpError {
  constructor(message = 'a valid bearer token is required (Authorization: Bearer <token>)', code = 'unauthenticated') {
    super(401, code, message);
  }
}
export class AuthorizationError extends HttpError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}
export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}
export class ConflictError extends HttpError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}
/** Understood but not doable as asked (an idempotency key reused for another request). */
export class UnprocessableError extends HttpError {
  constructor(message: string, code = 'unprocessable') {
    super(422, code, message);
  }
}
export class StaleLeaseError extends ConflictError {
  constructor(leaseId: string, why: string) {
    super(`lease ${leaseId} is no longer valid (${why}); this result is not recorded`, 'stale_lease');
  }
}
/** A worker speaking a protocol this coordinator does not: it is told so in one line and given no job. */
export class UnsupportedProtocolError extends HttpError {
  constructor(message: string) {
    super(426, 'protocol_unsupported', message);
  }
}
export class PayloadTooLargeError extends HttpError {
  constructor(message: string) {
    super(413, 'payload_too_large', message);
  }
}
export class UnsupportedMediaTypeError extends HttpError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
  }
}
export class TooManyRequestsError extends HttpError {
  constructor(message: string, retryAfterSec: number) {
    super(429, 'too_many_requests', message, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSec))) });
  }
}
export class InsufficientStorageError extends HttpError {
  constructor(message: string) {
    super(507, 'insufficient_storage', message);
  }
}
