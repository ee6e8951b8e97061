/**
 * Errors of the sensor layer, with stable codes.
 *
 * Phase 1 stands alone; when the foundation's `AegisError` (src/util/errors.ts) is on this branch, `SensorError`
 * becomes a subclass of it and these codes join `ERROR_CODES` and docs/errors.md. The native addon's codes
 * (`AEGIS_ERR_BPF_*`, `AEGIS_ERR_MAP_*`, …) are listed in src/native/errors.ts.
 */

export const SENSOR_ERROR_CODES = {
  AEGIS_ERR_NATIVE_NOT_BUILT: 'The native addon or the BPF objects are not built (missing clang, libbpf, bpftool or kernel BTF at install time); the message says which.',
  AEGIS_ERR_SENSOR_UNAVAILABLE: 'The eBPF sensor cannot run on this host (not root, no BTF, a required program type refused); `aegisbpf health` lists why.',
  AEGIS_ERR_SENSOR_LOAD: 'Loading or attaching the sensor programs failed; the message carries the kernel errno and the verifier log tail is in the details.',
  AEGIS_ERR_POLICY_INVALID: 'A policy file failed validation; the message names the rule and key.',
  AEGIS_ERR_POLICY_READ: 'A policy file could not be read or is not valid YAML.',
  AEGIS_ERR_POLICY_UNENFORCEABLE: 'A policy rule asks for an action this kernel cannot enforce (e.g. BLOCK on file open without BPF LSM) and names no fallback.',
  AEGIS_ERR_POLICY_MAP_FULL: 'Applying the policy would exceed a kernel map capacity (E2BIG); the message names the map, the entries needed and the capacity. Nothing was applied.',
  AEGIS_ERR_POLICY_APPLY: 'Writing the policy into the kernel maps failed; the previous policy was restored.',
  AEGIS_ERR_POLICY_NO_PREVIOUS: '`policy rollback` was asked for but there is no previously applied policy.',
} as const;

export type SensorErrorCode = keyof typeof SENSOR_ERROR_CODES;

export class SensorError extends Error {
  readonly code: string;
  /** Kernel errno when the failure came from a syscall (positive), else undefined. */
  readonly errno: number | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: SensorErrorCode | (string & {}), message: string, options?: { cause?: unknown; errno?: number; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SensorError';
    this.code = code;
    this.errno = options?.errno;
    this.details = options?.details;
  }
}
