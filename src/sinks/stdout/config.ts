/** `stdout` sink configuration: no keys of its own besides the common ones. */
import type { JsonSchemaObject } from '../../formatters/types';

export type StdoutSinkConfig = Readonly<Record<string, never>>;

export const stdoutConfigSchema: { properties: Record<string, JsonSchemaObject> } = { properties: {} };

export function parseStdoutConfig(): StdoutSinkConfig {
  return {};
}
