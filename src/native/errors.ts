/**
 * Codes of errors thrown by the native addon (must match: native/src/errors.h). Each native error is a plain
 * `Error` with `code` (one of these), `errno` (positive errno, 0 when not a syscall failure) and, for load
 * failures, `log` (the tail of libbpf's and the verifier's output). The codes are described with the project's
 * other codes in src/util/errors.ts and docs/errors.md; test/native/binding.test.ts checks this list against the
 * addon's `errorCodes` export.
 */
import type { ErrorCode } from '../util/errors';

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
