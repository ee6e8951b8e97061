import fs from 'node:fs';
import { packagePath } from '../util/paths';

let cached: string | undefined;

/** The package version from package.json. */
export function aegisVersion(): string {
  cached ??= (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
