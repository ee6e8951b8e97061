/** Argument parsing on node:util parseArgs, with usage errors as AegisError (exit 2). */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { AegisError } from '../util/errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  argv: readonly string[],
  options: O,
  positionalsAllowed: number,
) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: ${(err as Error).message.replace(/\. To specify.*$/s, '')}. See 'aegisbpf ${command} --help'.`,
    );
  }
  if (parsed.positionals.length > positionalsAllowed) {
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: unexpected argument '${parsed.positionals[positionalsAllowed] ?? ''}'. See 'aegisbpf ${command} --help'.`,
    );
  }
  return parsed;
}
