/**
 * Ring buffer -> decoded records, one callback per batch. Pairs with native/src/ring-reader.cc, which does the
 * polling (uv_poll on ring_buffer__epoll_fd) and hands over one pooled buffer per batch.
 *
 * Backpressure: pause() stops polling; the kernel keeps writing until the ring is full and then counts drops per op
 * (kernel-stats.ts). The sensor never blocks the kernel.
 */
import type { NativeBinding, NativeMap, NativeRingReaderStats } from '../native/binding';
import type { DecoderRegistry } from './decoder-registry';
import type { DecodedRecord } from './records';

export interface RingReaderOptions {
  readonly native: NativeBinding;
  readonly map: NativeMap;
  readonly registry: DecoderRegistry<DecodedRecord>;
  /** Called once per batch with freshly decoded records (the array is the callee's to keep). */
  readonly onRecords: (records: DecodedRecord[]) => void;
  /** Size of the pooled batch buffer, bytes. Default 1 MiB. */
  readonly batchBytes?: number;
  /** Records consumed per event-loop turn before yielding. Default 65536. */
  readonly maxRecordsPerTick?: number;
  /**
   * Minimum time between two drains, microseconds (0 = drain on every wakeup). Trades at most this much latency
   * for fewer wakeups at high event rates; see native/src/ring-reader.h.
   */
  readonly minIntervalMicros?: number;
  /** Raw batches, before decoding (benchmarks record them). Called with the pooled buffer: copy what you keep. */
  readonly onRawBatch?: (buffer: Buffer, byteLength: number, recordCount: number) => void;
}

export interface RingReader {
  start(): void;
  pause(): void;
  resume(): void;
  /** Consume synchronously whatever is in the ring now; returns records consumed. */
  drain(): number;
  close(): void;
  stats(): NativeRingReaderStats;
}

export function createRingReader(options: RingReaderOptions): RingReader {
  const { registry, onRecords, onRawBatch } = options;
  let closed = false;
  const reader = new options.native.RingReader(
    options.map,
    (buffer, byteLength, count) => {
      onRawBatch?.(buffer, byteLength, count);
      const out: DecodedRecord[] = [];
      registry.decodeBatch(buffer, byteLength, out);
      if (out.length > 0) onRecords(out);
    },
    {
      batchBytes: options.batchBytes ?? 1 << 20,
      maxRecordsPerTick: options.maxRecordsPerTick ?? 65536,
      minIntervalMicros: options.minIntervalMicros ?? 0,
    },
  );
  return {
    start: () => reader.start(),
    pause: () => reader.stop(),
    resume: () => {
      if (!closed) reader.start();
    },
    drain: () => (closed ? 0 : reader.consume()),
    close: () => {
      if (closed) return;
      closed = true;
      reader.close();
    },
    stats: () => reader.stats(),
  };
}
