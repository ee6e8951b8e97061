/**
 * Human durations on the command line (`--expires 90d`, `--expire-old-in 7d`, `--since 1h`): an integer and one
 * unit (s, m, h, d, w). Returns milliseconds, or undefined when the text is not a duration (the caller names the
 * flag in its error).
 */
const UNIT_MILLIS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export function parseHumanDuration(text: string): number | undefined {
  const m = /^(\d{1,9})([smhdw])$/.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNIT_MILLIS[m[2] as string] as number);
}
