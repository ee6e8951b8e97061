/**
 * The last lines written (bounded by count and bytes), for `aegisbpf debug bundle --include-logs`: the daemon keeps
 * its recent log lines in memory, so a bundle has them even where stderr goes nowhere searchable.
 */
export interface LineRing {
  push(text: string): void;
  lines(): string[];
}

export function createLineRing(maxLines = 1000, maxBytes = 1024 * 1024): LineRing {
  const ring: string[] = [];
  let bytes = 0;
  let partial = '';
  const add = (line: string): void => {
    ring.push(line);
    bytes += line.length;
    while (ring.length > maxLines || (bytes > maxBytes && ring.length > 1)) bytes -= ring.shift()!.length;
  };
  return {
    push(text) {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p !== '') add(p);
    },
    lines: () => [...ring],
  };
}
