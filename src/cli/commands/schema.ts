/** `aegisbpf schema event|config`: print a published JSON Schema. */
import { buildConfigSchema } from '../../config/schema';
import { loadEventSchema } from '../../event/validate';
import { AegisError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';

const USAGE = `Usage: aegisbpf schema event|config

Print the JSON Schema (draft 2020-12) of the canonical event or of the configuration file.`;

export const schemaCommand: Command = {
  name: 'schema',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('schema', argv, { help: { type: 'boolean', short: 'h' } }, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(0);
    }
    const which = positionals[0];
    if (which === 'event') io.stdout.write(JSON.stringify(loadEventSchema(), null, 2) + '\n');
    else if (which === 'config') io.stdout.write(JSON.stringify(buildConfigSchema(), null, 2) + '\n');
    else throw new AegisError('AEGIS_ERR_USAGE', "schema: say which schema: 'event' or 'config'.");
    return Promise.resolve(0);
  },
};
