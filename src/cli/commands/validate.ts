/** `aegisbpf validate FILE`: check a configuration without starting anything. */
import fs from 'node:fs';
import { validateConfigText } from '../../config/load';
import { AegisError, describeError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';

const USAGE = `Usage: aegisbpf validate FILE

Validate a configuration file: YAML syntax, \${VAR} references, the configuration schema, and semantic checks
(routes name existing sinks, expressions parse and name real fields). Does not start anything or read secret files.
Prints every problem as \`key.path: problem\` and exits 2; exits 0 with a one-line summary when valid.`;

export const validateCommand: Command = {
  name: 'validate',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('validate', argv, { help: { type: 'boolean', short: 'h' } }, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const file = positionals[0];
    if (file === undefined)
      throw new AegisError('AEGIS_ERR_USAGE', "validate: missing FILE. See 'aegisbpf validate --help'.");
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      io.stdout.write(`${file}: cannot read: ${describeError(err)}\n`);
      return Promise.resolve(EXIT.USAGE);
    }
    const result = validateConfigText(text, io.env);
    for (const w of result.warnings) io.stdout.write(`warning: ${w}\n`);
    if (result.config === undefined) {
      io.stdout.write(`${file}: ${result.problemCount} problem${result.problemCount === 1 ? '' : 's'}\n`);
      for (const p of result.problems) io.stdout.write(`${p}\n`);
      return Promise.resolve(EXIT.USAGE);
    }
    const c = result.config;
    const list = (items: readonly { type: string }[]): string => [...new Set(items.map((i) => i.type))].join(', ');
    const n = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;
    io.stdout.write(
      `${file}: valid: ${n(c.sources.length, 'source')} (${list(c.sources)}), ${n(c.processors.length, 'processor')}, ` +
        `${n(c.routes.length, 'route')}, ${n(c.sinks.length, 'sink')} (${list(c.sinks)})\n`,
    );
    return Promise.resolve(EXIT.OK);
  },
};
