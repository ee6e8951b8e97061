/** The error a configuration that fails validation throws; its own module so the CLI can catch it without loading the validator. */
import { AegisError } from '../util/errors';

export class ConfigError extends AegisError {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(
      'AEGIS_ERR_CONFIG_INVALID',
      `Configuration ${source} is invalid:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}
