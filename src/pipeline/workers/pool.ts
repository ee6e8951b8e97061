/**
 * A fixed set of worker threads running worker-main.ts. A job goes to the worker with the fewest jobs outstanding;
 * results come back in any order (the engine puts them back in order). A worker keeps the process alive only while
 * it has a job (so a pool never holds up an exit), and a worker that dies fails its outstanding jobs with the reason.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { WorkerInit, WorkerJob, WorkerReply, WorkerResult } from './protocol';

export interface WorkerPool {
  readonly size: number;
  /** Run one job; `job.bytes` is transferred (unusable by the caller afterwards). */
  run(job: Omit<WorkerJob, 'id'>): Promise<WorkerResult>;
  close(): Promise<void>;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve(r: WorkerResult): void; reject(e: Error): void }>;
  failed: Error | undefined;
}

export function createWorkerPool(size: number, init: WorkerInit): WorkerPool {
  const file = path.join(__dirname, 'worker-main.js');
  let nextId = 1;
  const slots: Slot[] = [];
  for (let i = 0; i < size; i++) {
    const worker = new Worker(file, { workerData: { aegisPipelineWorker: true, init } });
    const slot: Slot = { worker, pending: new Map(), failed: undefined };
    worker.unref();
    const fail = (err: Error): void => {
      slot.failed ??= err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      worker.unref();
    };
    worker.on('message', (reply: WorkerReply) => {
      const id = reply.kind === 'result' ? reply.result.id : reply.id;
      const p = slot.pending.get(id);
      if (p === undefined) return;
      slot.pending.delete(id);
      if (slot.pending.size === 0) worker.unref();
      if (reply.kind === 'result') p.resolve(reply.result);
      else p.reject(new Error(`pipeline worker failed on a chunk: ${reply.message}`));
    });
    worker.on('error', (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => fail(new Error(`pipeline worker exited (code ${code})`)));
    slots.push(slot);
  }
  return {
    size,
    run(job) {
      let best: Slot | undefined;
      for (const s of slots)
        if (s.failed === undefined && (best === undefined || s.pending.size < best.pending.size)) best = s;
      if (best === undefined) return Promise.reject(slots[0]?.failed ?? new Error('no pipeline worker'));
      const slot = best;
      const id = nextId++;
      return new Promise<WorkerResult>((resolve, reject) => {
        if (slot.pending.size === 0) slot.worker.ref();
        slot.pending.set(id, { resolve, reject });
        slot.worker.postMessage({ ...job, id }, [job.bytes.buffer as ArrayBuffer]);
      });
    },
    async close() {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
