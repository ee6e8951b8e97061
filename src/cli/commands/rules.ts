/**
 * `aegisbpf rules install <target> …`: install the SIEM content under rules/<target>/ into a running SIEM.
 * Targets are found in RULE_TARGETS (one entry per SIEM that has an installer).
 * `aegisbpf rules package splunk`: the Splunk apps as installable .tgz files (./rules-package-splunk.ts).
 */
import { AegisError } from '../../util/errors';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';
import { elasticRulesTarget } from './rules-elastic';
import { packageSplunk } from './rules-package-splunk';
import type { RulesTarget } from './rules-target';

const RULE_TARGETS: readonly RulesTarget[] = [elasticRulesTarget];

const USAGE = `Usage: aegisbpf rules install <target> [options]
       aegisbpf rules package splunk [--out DIR]

Install aegisbpf's SIEM content (templates, pipelines, policies) into a running SIEM, idempotently.
Targets:
${RULE_TARGETS.map((t) => `  ${t.name.padEnd(10)} ${t.summary}`).join('\n')}

\`aegisbpf rules install <target> --help\` lists a target's options; \`aegisbpf rules package splunk\` writes the
Splunk apps as .tgz files to install (TA-aegisbpf, TA-aegisbpf-hec-inputs).`;

export const rulesCommand: Command = {
  name: 'rules',
  usage: USAGE,
  async run(argv, io) {
    const [verb, targetName, ...rest] = argv;
    if (verb === undefined || verb === '--help' || verb === '-h') {
      io.stdout.write(USAGE + '\n');
      return verb === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (verb === 'package') {
      if (targetName !== 'splunk')
        throw new AegisError(
          'AEGIS_ERR_USAGE',
          `rules package: ${targetName === undefined ? 'missing target' : `unknown target '${targetName}'`} (known: splunk).`,
        );
      return packageSplunk(rest, io);
    }
    if (verb !== 'install')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `rules: unknown action '${verb}' (known: install, package). See 'aegisbpf rules --help'.`,
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
