/** The benchmarks' input: generated events of every type (~430 bytes of JSON each), one per line. */
import fs from 'node:fs';
import { formatJson } from '../../src/formatters/json';
import { makeEventFactory } from '../../test/helpers/events';

/** Writes `count` events made by the seeded factory (seed 1 unless told: every benchmark then ships the same events). */
export function writeEventsFile(file: string, count: number, seed = 1): void {
  const make = makeEventFactory({ seed });
  const fd = fs.openSync(file, 'w');
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += formatJson(make(i)) + '\n';
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
}
