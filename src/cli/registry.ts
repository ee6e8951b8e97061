/** CLI commands, found by name. Adding a command is one file in ./commands/ plus one line here. */
import type { Command } from './command';
import { healthCommand } from './commands/health';
import { policyCommand } from './commands/policy';
import { dashboardCommand } from './commands/dashboard';
import { metricsCommand } from './commands/metrics';
import { replayCommand } from './commands/replay';
import { rulesCommand } from './commands/rules';
import { runCommand } from './commands/run';
import { schemaCommand } from './commands/schema';
import { statsCommand } from './commands/stats';
import { validateCommand } from './commands/validate';

export const COMMANDS: readonly Command[] = [
  runCommand, validateCommand, replayCommand, schemaCommand, healthCommand, policyCommand, rulesCommand, statsCommand, metricsCommand, dashboardCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
