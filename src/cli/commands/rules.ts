/**
 * `aegisbpf rules install <target> …`: install the SIEM content under rules/<target>/ into a running SIEM.
 * Targets are found in RULE_TARGETS (one entry per SIEM that has an installer).
 */
import { AegisError } from '../../util/errors';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';
import { elasticRulesTarget } from './rules-elastic';
import type { RulesTarget } from './rules-target';

const RULE_TARGETS: readonly RulesTarget[] = [elasticRulesTarget];

const USAGE = `Usage: aegisbpf rules install <target> [options]

Install aegisbpf's SIEM content (templates, pipelines, policies) into a running SIEM, idempotently.
Targets:
${RULE_TARGETS.map((t) => `  ${t.name.padEnd(10)} ${t.summary}`).join('\n')}

\`aegisbpf rules install <target> --help\` lists a target's options.`;

export const rulesCommand: Command = {
  name: 'rules',
  usage: USAGE,
  async run(argv, io) {
    const [verb, targetName, ...rest] = argv;
    if (verb === undefined || verb === '--help' || verb === '-h') {
      io.stdout.write(USAGE + '\n');
      return verb === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (verb !== 'install')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `rules: unknown action '${verb}' (known: install). See 'aegisbpf rules --help'.`,
      );
    const target = RULE_TARGETS.find((t) => t.name === targetName);
    if (target === undefined) {
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `rules install: ${targetName === undefined ? 'missing target' : `unknown target '${targetName}'`} (known: ${RULE_TARGETS.map((t) => t.name).join(', ')}).`,
      );
    }
    return target.install(rest, io);
  },
};
