/**
 * Bounds for error reasons. A reason is built from the input (one problem per unknown key, the key itself quoted),
 * so without a bound a hostile or broken input line makes a log line or a dead-letter entry several times its own
 * size (observed: a 930 KB line with 100 000 unknown keys gave a 2.9 MB log line). Every place that builds a reason
 * from a list of problems lists the first few and says how many there were; capText is the last line of defence
 * where a reason is stored.
 */

/** Most problems one reason lists. */
export const MAX_REASON_PROBLEMS = 10;
/** Most UTF-16 code units of one piece of input quoted inside a reason (a key name). */
export const MAX_QUOTED_CHARS = 64;
/** Most UTF-16 code units of a stored reason (the dead-letter file's `reason`). */
export const MAX_REASON_CHARS = 4096;

/** `text` cut to at most about `maxChars` code units, never inside a surrogate pair, saying how long it was. */
export function capText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = maxChars;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a lone high surrogate would make the JSON of the reason lossy
  return `${text.slice(0, end)}… (${text.length} characters in all)`;
}

/** The first `max` problems joined with `separator`, then `… and K more problems` when there were more. */
export function joinProblems(problems: readonly string[], separator = '; ', max = MAX_REASON_PROBLEMS): string {
  if (problems.length <= max) return problems.join(separator);
  return `${problems.slice(0, max).join(separator)}${separator}… and ${problems.length - max} more problems (${problems.length} in all)`;
}
