import path from 'node:path';

/**
 * The package root (the directory holding package.json), from this file's compiled location
 * `dist/src/util/paths.js`. Data files (schemas, samples, rules) are read from here, never copied into dist/.
 */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
