import { spawnSync } from 'node:child_process';

let hasTaskset: boolean | undefined;

/** `node <args>` pinned to core 0 with taskset where it exists (unpinned otherwise), as a command and its arguments. */
export function nodeOnCore0(args: readonly string[]): { readonly command: string; readonly args: string[] } {
  hasTaskset ??= spawnSync('taskset', ['--version']).status === 0;
  return hasTaskset
    ? { command: 'taskset', args: ['-c', '0', process.execPath, ...args] }
    : { command: process.execPath, args: [...args] };
}
