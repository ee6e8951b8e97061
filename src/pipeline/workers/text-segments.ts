/**
 * Many short texts (one per record or event) sent between threads as a few strings of at most SEGMENT_CHARS each,
 * with each text's end offset within its string. One string per 96 KiB item would be over V8's large-object size
 * (~128 KiB; a two-byte string is twice its length): large objects live in the old generation until a full GC, which
 * on the engine's thread kept 390 MiB RSS for replay → ECS → file with 2 workers.
 */

/** 32 K characters: 64 KiB even as a two-byte string, under the large-object size. */
export const SEGMENT_CHARS = 32 * 1024;

export interface SegmentedText {
  readonly parts: readonly string[];
  /** Texts in each part. */
  readonly counts: Uint32Array;
  /** Each text's end offset (UTF-16 units) within its part. */
  readonly ends: Uint32Array;
}

export class SegmentedTextBuilder {
  private readonly parts: string[] = [];
  private readonly counts: number[] = [];
  private readonly ends: number[] = [];
  private current: string[] = [];
  private length = 0;

  add(text: string): void {
    if (this.length > 0 && this.length + text.length > SEGMENT_CHARS) this.flush();
    this.current.push(text);
    this.length += text.length;
    this.ends.push(this.length);
  }

  build(): SegmentedText {
    this.flush();
    return { parts: this.parts, counts: Uint32Array.from(this.counts), ends: Uint32Array.from(this.ends) };
  }

  private flush(): void {
    if (this.current.length === 0) return;
    this.parts.push(this.current.join(''));
    this.counts.push(this.current.length);
    this.current = [];
    this.length = 0;
  }
}

/** The i-th text of a SegmentedText (a slice of its part: no copy). */
export class SegmentedTextReader {
  private readonly partOf: Uint32Array;
  private readonly startOf: Uint32Array;

  constructor(private readonly text: SegmentedText) {
    const n = text.ends.length;
    this.partOf = new Uint32Array(n);
    this.startOf = new Uint32Array(n);
    let i = 0;
    for (let p = 0; p < text.counts.length; p++) {
      const count = text.counts[p] as number;
      for (let j = 0; j < count; j++, i++) {
        this.partOf[i] = p;
        this.startOf[i] = j === 0 ? 0 : (text.ends[i - 1] as number);
      }
    }
  }

  get length(): number {
    return this.text.ends.length;
  }

  get(i: number): string {
    return (this.text.parts[this.partOf[i] as number] as string).slice(this.startOf[i], this.text.ends[i]);
  }
}
