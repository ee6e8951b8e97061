/**
 * Golden-file harness shared by every formatter: inputs are test/formatters/golden/events/<case>.json (one event
 * each, every type and the edge cases), expected outputs test/formatters/golden/<formatter>/<case>.<ext>, compared
 * byte for byte. `AEGIS_UPDATE_GOLDEN=1` rewrites the expected files (review the diff before committing).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../src/event/types';
import type { FormatterContext } from '../../src/formatters/types';
import { packagePath } from '../../src/util/paths';

export const GOLDEN_DIR = packagePath('test', 'formatters', 'golden');

export function goldenCases(): { name: string; event: AegisEvent }[] {
  const dir = path.join(GOLDEN_DIR, 'events');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.json$/, ''),
      event: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as AegisEvent,
    }));
}

/** Compare (or, with AEGIS_UPDATE_GOLDEN=1, write) one output. Returns undefined when equal, else a message. */
export function compareGolden(
  formatter: string,
  caseName: string,
  ext: string,
  actual: string | Uint8Array,
): string | undefined {
  const file = path.join(GOLDEN_DIR, formatter, `${caseName}.${ext}`);
  const bytes = typeof actual === 'string' ? Buffer.from(actual, 'utf8') : Buffer.from(actual);
  if (process.env.AEGIS_UPDATE_GOLDEN === '1') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    return undefined;
  }
  if (!fs.existsSync(file))
    return `missing golden file ${path.relative(packagePath(), file)} (run with AEGIS_UPDATE_GOLDEN=1 to create it)`;
  const expected = fs.readFileSync(file);
  if (Buffer.compare(expected, bytes) === 0) return undefined;
  return `${path.relative(packagePath(), file)} differs:\n  expected: ${JSON.stringify(expected.toString('utf8')).slice(0, 400)}\n  actual:   ${JSON.stringify(bytes.toString('utf8')).slice(0, 400)}`;
}

/** Formatter context for golden files: fixed, so a version bump or the test machine's name changes no golden file. */
export const GOLDEN_CONTEXT: FormatterContext = { hostname: 'golden-host', version: '1.2.3' };

/**
 * The bytes a golden file holds for one formatter output: a string followed by one newline; a record (Kafka) as
 * indented JSON followed by one newline.
 */
export function goldenBytes(output: unknown): string {
  return typeof output === 'string' ? output + '\n' : JSON.stringify(output, null, 2) + '\n';
}

/** Golden files of one case for one formatter directory, whatever their extension. */
export function goldenFilesFor(formatter: string, caseName: string): string[] {
  const dir = path.join(GOLDEN_DIR, formatter);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(caseName + '.') && !f.slice(caseName.length + 1).includes('.'))
    .map((f) => path.join(dir, f));
}
