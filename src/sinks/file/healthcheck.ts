/** The file sink's healthcheck does what a send does first: create the directory and open the file for append. */
import fs from 'node:fs';
import path from 'node:path';
import { describeError } from '../../util/errors';
import type { HealthResult } from '../core/types';
import type { FileSinkConfig } from './config';

export async function checkFileWritable(config: FileSinkConfig): Promise<HealthResult> {
  try {
    await fs.promises.mkdir(path.dirname(config.path), { recursive: true, mode: 0o750 });
    const handle = await fs.promises.open(config.path, 'a', config.fileMode);
    await handle.close();
    return { healthy: true };
  } catch (err) {
    return { healthy: false, reason: `cannot open ${config.path} for append: ${describeError(err)}` };
  }
}
