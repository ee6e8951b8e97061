/**
 * Decoding ring-buffer batches through a registry keyed by op code.
 *
 * A batch (from native/src/ring-reader.cc) is a sequence of frames `[u32 length][u32 reserved][record][pad to 8]`;
 * every record starts with struct aegis_hdr. Records with an op nobody registered are counted per op and skipped,
 * never thrown: a newer kernel object must not crash an older decoder. Records shorter than their header or their
 * decoder's minimum, or whose header size disagrees with the frame, are counted as malformed and skipped.
 */
import { FRAME_HEADER_BYTES, HDR, OP_MAX } from './abi';

export interface RecordDecoder<R> {
  readonly op: number;
  readonly name: string;
  /** Fewest bytes a valid record of this op has. */
  readonly minSize: number;
  /**
   * Decode the record at [off, off + len). `view` and `buf` cover the same bytes (the whole batch); read numbers
   * through the view. Must copy out everything it keeps: the batch buffer is reused.
   */
  decode(view: DataView, buf: Buffer, off: number, len: number): R;
}

export interface DecodeStats {
  /** Records decoded, per op code (index). */
  readonly decoded: readonly number[];
  /** Records with no registered decoder, per op code; ops >= OP_MAX are counted at index OP_MAX. */
  readonly unknownOps: readonly number[];
  readonly unknownTotal: number;
  readonly malformed: number;
}

export interface DecoderRegistry<R> {
  register(decoder: RecordDecoder<R>): void;
  /** Appends decoded records to `out`; returns how many were appended. */
  decodeBatch(buf: Buffer, byteLength: number, out: R[]): number;
  stats(): DecodeStats;
}

const H_OP = HDR.fields.op.offset;
const H_SIZE = HDR.fields.size.offset;

export function createDecoderRegistry<R>(decoders: readonly RecordDecoder<R>[] = []): DecoderRegistry<R> {
  // Dense array indexed by op: one bounds check and one load per record, no Map hashing on the hot path.
  const table: (RecordDecoder<R> | undefined)[] = new Array<RecordDecoder<R> | undefined>(OP_MAX).fill(undefined);
  const decoded = new Array<number>(OP_MAX).fill(0);
  const unknownOps = new Array<number>(OP_MAX + 1).fill(0);
  let unknownTotal = 0;
  let malformed = 0;

  const register = (decoder: RecordDecoder<R>): void => {
    if (!Number.isInteger(decoder.op) || decoder.op <= 0 || decoder.op >= OP_MAX) {
      throw new RangeError(`decoder '${decoder.name}' has op ${decoder.op}, outside 1..${OP_MAX - 1}`);
    }
    if (table[decoder.op] !== undefined)
      throw new Error(`op ${decoder.op} already has a decoder (${table[decoder.op]?.name})`);
    table[decoder.op] = decoder;
  };
  for (const d of decoders) register(d);

  return {
    register,
    decodeBatch(buf, byteLength, out) {
      let off = 0;
      let n = 0;
      const end = Math.min(byteLength, buf.length);
      const view = new DataView(buf.buffer, buf.byteOffset, end);
      while (off + FRAME_HEADER_BYTES <= end) {
        const len = view.getUint32(off, true);
        const rec = off + FRAME_HEADER_BYTES;
        off = rec + ((len + 7) & ~7);
        if (rec + len > end || len < HDR.size) {
          malformed++;
          continue;
        }
        const op = view.getUint16(rec + H_OP, true);
        const decoder = op < OP_MAX ? table[op] : undefined;
        if (decoder === undefined) {
          unknownTotal++;
          const slot = op < OP_MAX ? op : OP_MAX;
          unknownOps[slot] = (unknownOps[slot] as number) + 1;
          continue;
        }
        const size = view.getUint32(rec + H_SIZE, true);
        if (size > len || size < decoder.minSize) {
          malformed++;
          continue;
        }
        out.push(decoder.decode(view, buf, rec, size));
        decoded[op] = (decoded[op] as number) + 1;
        n++;
      }
      return n;
    },
    stats() {
      return { decoded: decoded.slice(), unknownOps: unknownOps.slice(), unknownTotal, malformed };
    },
  };
}
