/** Markdown helpers for the documentation tests. */

/** GitHub's heading anchors: lower case, spaces to '-', punctuation dropped. */
export function headingAnchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] as string)
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

/** The contents of every fenced code block of a language (```promql … ```). */
export function codeBlocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp('^( *)```' + language + '\\n([\\s\\S]*?)^\\1```', 'gm'))].map((m) =>
    (m[2] as string)
      .split('\n')
      .map((l) => l.slice((m[1] as string).length))
      .join('\n')
      .trim(),
  );
}
