/** `file` sink configuration: pure schema, checks and parsing. */
import path from 'node:path';
import type { JsonSchemaObject } from '../../formatters/types';
import { byteSizeSchema } from '../../util/byte-size';

export type FsyncPolicy = 'never' | 'batch' | 'always';

export interface FileSinkConfig {
  readonly path: string;
  /** Rotate when the next batch would take the file past this size; 0 disables rotation. */
  readonly rotateMaxBytes: number;
  /** Rotated files kept: `<path>.1` (newest) … `<path>.<n>`. */
  readonly rotateMaxFiles: number;
  readonly fsync: FsyncPolicy;
  /** Permission bits of a newly created file. */
  readonly fileMode: number;
}

export const DEFAULT_ROTATE_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_ROTATE_MAX_FILES = 5;

export const fileConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    path: { type: 'string', minLength: 1, description: 'File to append to (NDJSON: one record per line).' },
    rotate: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_bytes: byteSizeSchema(
          0,
          `Rotate before the file would exceed this size; 0 disables (default ${DEFAULT_ROTATE_MAX_BYTES}).`,
        ),
        max_files: {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
          description: `Rotated files to keep (default ${DEFAULT_ROTATE_MAX_FILES}).`,
        },
      },
    },
    fsync: {
      type: 'string',
      enum: ['never', 'batch', 'always'],
      description:
        'never: leave it to the OS; batch: fdatasync before a batch counts as delivered (default); always: fdatasync after every record.',
    },
    file_mode: {
      type: 'string',
      pattern: '^0?[0-7]{3}$',
      description: 'Permission bits of a new file, octal (default "0640": security events are not world-readable).',
    },
  },
  required: ['path'],
};

export function checkFileConfig(raw: Readonly<Record<string, unknown>>): string[] {
  const p = raw.path;
  if (typeof p === 'string' && p.endsWith('/')) return ['path: must name a file, not a directory'];
  return [];
}

export function parseFileConfig(raw: Readonly<Record<string, unknown>>): FileSinkConfig {
  const rotate = (raw.rotate ?? {}) as Readonly<Record<string, unknown>>;
  return {
    path: path.resolve(String(raw.path)),
    rotateMaxBytes: typeof rotate.max_bytes === 'number' ? rotate.max_bytes : DEFAULT_ROTATE_MAX_BYTES,
    rotateMaxFiles: typeof rotate.max_files === 'number' ? rotate.max_files : DEFAULT_ROTATE_MAX_FILES,
    fsync: raw.fsync === 'never' || raw.fsync === 'always' ? raw.fsync : 'batch',
    fileMode: typeof raw.file_mode === 'string' ? parseInt(raw.file_mode, 8) : 0o640,
  };
}
