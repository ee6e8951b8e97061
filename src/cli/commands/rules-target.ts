/**
 * The contract of one `aegisbpf rules install <target>` installer (./rules-elastic.ts, …), listed in ./rules.ts.
 *
 * A file of its own so that the installers and the command that lists them do not import each other; it imports
 * only the `CommandIo` type from ../command.ts, which imports nothing from the project.
 */
import type { CommandIo } from '../command';

export interface RulesTarget {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  install(argv: readonly string[], io: CommandIo): Promise<number>;
}
