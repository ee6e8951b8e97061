/**
 * Codes of errors thrown by the native addon (must match: native/src/errors.h). Each native error is a plain
 * `Error` with `code` (one of these), `errno` (positive errno, 0 when not a syscall failure) and, for load
 * failures, `log` (the tail of libbpf's and the verifier's output). The codes are described with the project's
 * other codes in src/util/errors.ts and docs/errors.md; test/native/binding.test.ts checks this list against the
 * addon's `errorCodes` export.
 *
 * `SensorError` lives here too, below the binding that throws it, so that native/ imports nothing from sensor/ (the
 * layer above it); the sensor, the policy code and the CLI import it from here.
 */
import type { ErrorCode } from '../util/errors';
import { AegisError } from '../util/errors';

export const NATIVE_ERROR_CODES = [
  'AEGIS_ERR_NATIVE_INVALID_ARG',
  'AEGIS_ERR_BPF_OPEN',
  'AEGIS_ERR_BPF_LOAD',
  'AEGIS_ERR_BPF_ATTACH',
  'AEGIS_ERR_BPF_NOT_FOUND',
  'AEGIS_ERR_BPF_STATE',
  'AEGIS_ERR_MAP_OP',
  'AEGIS_ERR_MAP_FULL',
  'AEGIS_ERR_RING',
  'AEGIS_ERR_MOUNT',
] as const satisfies readonly ErrorCode[];

export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

/** The shape of an error thrown by the addon. */
export interface NativeError extends Error {
  readonly code: NativeErrorCode;
  readonly errno: number;
  readonly log?: string;
}

const CODES: ReadonlySet<string> = new Set(NATIVE_ERROR_CODES);

export function isNativeError(err: unknown): err is NativeError {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && CODES.has(code);
}

/**
 * The sensor's error: the project's AegisError (stable `code`, documented in docs/errors.md) plus the kernel's
 * `errno` when a syscall refused something, so callers can tell EPERM from E2BIG without parsing messages.
 */
export class SensorError extends AegisError {
  /** Positive errno of the refusal, when the failure came from the kernel. */
  readonly errno: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; errno?: number; details?: Record<string, unknown> },
  ) {
    super(code, message, {
      ...(options?.cause !== undefined ? { cause: options.cause } : {}),
      ...(options?.details !== undefined ? { details: options.details } : {}),
    });
    this.name = 'SensorError';
    this.errno = options?.errno;
  }
}
