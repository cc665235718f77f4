/**
 * Named errors of the RPC layer. Each keeps its cause.
 *
 * @module
 */
import type { ErrorBody, ErrorCode } from "../protocol/common.ts";

/** A request got no response within its timeout. */
export class RpcTimeoutError extends Error {
  readonly topic: string;
  readonly correlationId: string;
  readonly timeoutMs: number;
  constructor(topic: string, correlationId: string, timeoutMs: number) {
    super(`No response to ${topic} (correlation_id ${correlationId}) within ${timeoutMs} ms`);
    this.name = "RpcTimeoutError";
    this.topic = topic;
    this.correlationId = correlationId;
    this.timeoutMs = timeoutMs;
  }
}

/** The client was closed while a request was in flight. */
export class RpcClosedError extends Error {
  constructor(message = "RPC client closed with the request in flight", options?: ErrorOptions) {
    super(message, options);
    this.name = "RpcClosedError";
  }
}

/** The responder answered with an error. */
export class RpcRemoteError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(error: ErrorBody, options?: ErrorOptions) {
    super(error.message, options);
    this.name = "RpcRemoteError";
    this.code = error.code;
    this.details = error.details;
  }
}

/** A request or response did not match its schema. */
export class InvalidMessageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidMessageError";
  }
}

/**
 * Thrown by request handlers to answer with a specific error code and message.
 * Anything else a handler throws is answered as `internal`.
 */
export class HandlerError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions & { details?: unknown }) {
    super(message, options);
    this.name = "HandlerError";
    this.code = code;
    this.details = options?.details;
  }
}
