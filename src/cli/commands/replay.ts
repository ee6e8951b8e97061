/** `aegisbpf replay FILE`: send an NDJSON file of events through a pipeline (or preview it in a format). */
import path from 'node:path';
import type { AegisConfig } from '../../config/load';
import { createReplaySource } from '../../pipeline/sources/replay';
import { DEFAULT_MAX_LINE_BYTES } from '../../pipeline/sources/ndjson';
import { createSourceStats } from '../../telemetry/stats';
import { AegisError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { runPipeline } from '../../daemon/run';
import { aegisVersion } from '../version';
import { OPTIONS as RUN_OPTIONS, resolveRunConfig } from './run';

const USAGE = `Usage: aegisbpf replay FILE [--log-format=FORMAT] [--config FILE] [--rate N] [--loop] [--log-level=LEVEL]

Replay an NDJSON file of events. Without --config, the events are written to stdout in --log-format (default json):
the way to preview a format. With --config, they go through that configuration's processors, routes and sinks in
place of its sources. Invalid lines are counted, logged and dead-lettered with their line number; the rest flows.

  --rate N   Events per second (default: as fast as the sinks take them).
  --loop     Start over at the end of the file.`;

export const replayCommand: Command = {
  name: 'replay',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'replay',
      argv,
      { ...RUN_OPTIONS, rate: { type: 'string' }, loop: { type: 'boolean' } },
      1,
    );
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    const file = positionals[0];
    if (file === undefined)
      throw new AegisError('AEGIS_ERR_USAGE', "replay: missing FILE. See 'aegisbpf replay --help'.");
    const rate = values.rate === undefined ? 0 : Number(values.rate);
    if (!Number.isFinite(rate) || rate < 0)
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `replay: --rate must be a number of events per second >= 0 (got '${values.rate ?? ''}').`,
      );
    if (values.log !== undefined && values.log !== 'stdout')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        'replay: without --config, replay writes to stdout; use --config for other sinks.',
      );
    const { config: base, logger } = resolveRunConfig('replay', { ...values, log: undefined }, io, {
      type: 'replay',
      path: path.resolve(file),
    });
    // A preview (no --config) keeps no state: no dead-letter file; invalid lines are logged and counted instead.
    const config: AegisConfig =
      values.config === undefined ? { ...base, deadLetter: { ...base.deadLetter, path: undefined } } : base;
    return runPipeline({
      config,
      logger,
      version: aegisVersion(),
      sources: ({ deadLetter, stats, hostname }) => {
        const sourceStats = createSourceStats('replay', 'replay');
        stats.sources.set('replay', sourceStats);
        return [
          createReplaySource(
            {
              path: path.resolve(file),
              rate,
              loop: values.loop === true,
              chunkEvents: 1024,
              maxLineBytes: DEFAULT_MAX_LINE_BYTES,
            },
            { name: 'replay', logger: logger.child('source.replay'), stats: sourceStats, deadLetter, hostname },
          ),
        ];
      },
    });
  },
};
