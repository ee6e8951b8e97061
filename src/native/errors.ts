/**
 * Codes of errors thrown by the native addon (must match: native/src/errors.h). Each native error is a plain
 * `Error` with `code` (one of these) and `errno` (positive errno, 0 when not a syscall failure); load failures
 * also carry `log` (the tail of libbpf's and the verifier's output).
 * test/native/binding.test.ts checks this list against the addon's `errorCodes` export.
 */
export const NATIVE_ERROR_CODES = {
  AEGIS_ERR_NATIVE_INVALID_ARG: 'A native call got an argument of the wrong type or size (a bug in the caller).',
  AEGIS_ERR_BPF_OPEN: 'A BPF object file or pinned map could not be opened.',
  AEGIS_ERR_BPF_LOAD: 'The kernel refused to load a BPF program (verifier, permissions, missing feature); see errno and log.',
  AEGIS_ERR_BPF_ATTACH: 'A loaded program could not be attached to its hook (missing tracefs, cgroup, permission).',
  AEGIS_ERR_BPF_NOT_FOUND: 'A program, map or rodata variable named by the caller is not in the object.',
  AEGIS_ERR_BPF_STATE: 'An operation was called in the wrong lifecycle state (e.g. rodata after load, map use after destroy).',
  AEGIS_ERR_MAP_OP: 'A map lookup, update, delete or iteration failed; see errno.',
  AEGIS_ERR_MAP_FULL: 'A map update failed because the map is at capacity (E2BIG).',
  AEGIS_ERR_RING: 'The ring buffer consumer could not be created or polled.',
  AEGIS_ERR_MOUNT: 'tracefs or bpffs could not be mounted.',
} as const;

export type NativeErrorCode = keyof typeof NATIVE_ERROR_CODES;

/** The shape of an error thrown by the addon. */
export interface NativeError extends Error {
  readonly code: NativeErrorCode;
  readonly errno: number;
  readonly log?: string;
}

export function isNativeError(err: unknown): err is NativeError {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code in NATIVE_ERROR_CODES;
}
