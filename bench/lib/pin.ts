import { spawnSync } from 'node:child_process';

let hasTaskset: boolean | undefined;

/** `command args` pinned to `core` with taskset where it exists (unpinned otherwise); taskset execs the command. */
export function onCore(
  core: number,
  command: string,
  args: readonly string[],
): { readonly command: string; readonly args: string[] } {
  hasTaskset ??= spawnSync('taskset', ['--version']).status === 0;
  return hasTaskset
    ? { command: 'taskset', args: ['-c', String(core), command, ...args] }
    : { command, args: [...args] };
}

/** `node <args>` pinned to core 0 with taskset where it exists (unpinned otherwise), as a command and its arguments. */
export function nodeOnCore0(args: readonly string[]): { readonly command: string; readonly args: string[] } {
  return onCore(0, process.execPath, args);
}

/** Node on the listed cores (`taskset -c 0,1`): a multi-threaded run pinned to the same cores every time. */
export function nodeOnCores(
  cores: string,
  args: readonly string[],
): { readonly command: string; readonly args: string[] } {
  hasTaskset ??= spawnSync('taskset', ['--version']).status === 0;
  return hasTaskset
    ? { command: 'taskset', args: ['-c', cores, process.execPath, ...args] }
    : { command: process.execPath, args: [...args] };
}
