/** What a CLI command is. Commands live in ./commands/ and are listed in ./registry.ts. */
import type { Writable } from 'node:stream';

export interface CommandIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly name: string;
  readonly usage: string;
  /** Returns the process exit code (see EXIT in src/util/exit-codes.ts). */
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}
