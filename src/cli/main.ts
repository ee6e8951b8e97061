/**
 * CLI entry point (bin/aegisbpf.js calls main). Usage errors exit 2 with a message on stderr; everything the
 * daemon logs is JSON lines on stderr; stdout carries only events or a command's output.
 */
import { describeError, isAegisError } from '../util/errors';
import type { Command, CommandIo } from './command';
import { EXIT } from '../util/exit-codes';
import { COMMANDS, findCommand } from './registry';
import { aegisVersion } from './version';
import { ConfigError } from '../config/errors';

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `aegisbpf ${aegisVersion()}: eBPF security sensor and SIEM delivery pipeline`,
    '',
    'Usage: aegisbpf <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options: --help, --version. `aegisbpf <command> --help` describes a command.',
    'Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 completed with invalid or undelivered events.',
  ].join('\n');
}

export async function main(
  argv: readonly string[],
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(help() + '\n');
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    io.stdout.write(`aegisbpf ${aegisVersion()}\n`);
    return EXIT.OK;
  }
  if (!COMMANDS.some((c) => c.name === first)) {
    io.stderr.write(`aegisbpf: unknown command '${first}'. Commands: ${COMMANDS.map((c) => c.name).join(', ')}.\n`);
    return EXIT.USAGE;
  }
  try {
    // Loading the command's module (registry.ts) can fail too; it is reported like a failure of the command.
    return await (findCommand(first) as Command).run(rest, io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`aegisbpf ${first}: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (
      isAegisError(err) &&
      (err.code === 'AEGIS_ERR_USAGE' ||
        err.code === 'AEGIS_ERR_CONFIG_READ' ||
        err.code === 'AEGIS_ERR_CONFIG_INVALID')
    ) {
      io.stderr.write(`aegisbpf: ${err.message}\n`);
      return EXIT.USAGE;
    }
    const code = isAegisError(err) ? err.code : 'AEGIS_ERR_INTERNAL';
    io.stderr.write(
      JSON.stringify({ ts: new Date().toISOString(), level: 'FATAL', msg: describeError(err), code }) + '\n',
    );
    return EXIT.FAILURE;
  }
}
