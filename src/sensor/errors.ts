/**
 * The sensor's error: the project's AegisError (stable `code`, documented in docs/errors.md) plus the kernel's
 * `errno` when a syscall refused something, so callers can tell EPERM from E2BIG without parsing messages.
 */
import type { ErrorCode } from '../util/errors';
import { AegisError } from '../util/errors';

export class SensorError extends AegisError {
  /** Positive errno of the refusal, when the failure came from the kernel. */
  readonly errno: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; errno?: number; details?: Record<string, unknown> }) {
    super(code, message, { ...(options?.cause !== undefined ? { cause: options.cause } : {}), ...(options?.details !== undefined ? { details: options.details } : {}) });
    this.name = 'SensorError';
    this.errno = options?.errno;
  }
}
