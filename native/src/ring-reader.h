// SPDX-License-Identifier: Apache-2.0
// Ring-buffer consumer driven by libuv. Pairs with src/sensor/ring-reader.ts.
//
// ring_buffer__epoll_fd() is watched with a uv_poll_t on the JS thread, so
// no thread and no locking: when the ring has data, libuv calls OnPoll,
// ring_buffer__consume() copies each record into one pooled Buffer (framed
// as [u32 length][u32 reserved][record][pad to 8]) and JS is called once per
// batch with (buffer, byteLength, recordCount). The buffer is reused: it is
// only valid during the callback, which must decode synchronously.
//
// Coalescing (minIntervalMicros > 0): the kernel wakes a ring consumer only
// when it has caught up, so a consumer that drains on every wakeup runs once
// per record or two at moderate rates, and each run costs a context switch
// plus a JS call. With an interval set, a drain that found records stops the
// ring poll and arms a timerfd (microsecond resolution, unlike libuv timers)
// for the interval; while the poll is off no task is woken (the kernel's
// wakeup finds no waiter). The timer drains everything that arrived; if that
// was something it re-arms, otherwise it goes back to waiting on the ring.
// Under sustained load that is one wakeup per interval; when idle, nothing
// runs. Added latency is at most the interval.
#pragma once

#include <napi.h>
#include <uv.h>

struct ring_buffer;

namespace aegis {

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new RingReader(map, onBatch, { batchBytes, maxRecordsPerTick })
  explicit RingReader(const Napi::CallbackInfo &info);
  ~RingReader() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo &info);
  Napi::Value Stop(const Napi::CallbackInfo &info);
  Napi::Value Consume(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  Napi::Value Stats(const Napi::CallbackInfo &info);

  static int OnSample(void *ctx, void *data, size_t size);
  static void OnPoll(uv_poll_t *handle, int status, int events);
  static void OnTimer(uv_poll_t *handle, int status, int events);
  int DrainNow(Napi::Env env);
  bool ArmTimer();
  void StartRingPoll();
  int Drain(Napi::Env env);
  void Flush(Napi::Env env);
  void CloseHandles();

  struct ring_buffer *rb_ = nullptr;
  uv_poll_t *poll_ = nullptr;
  uv_poll_t *timer_poll_ = nullptr;  // timerfd for coalescing
  int timer_fd_ = -1;
  bool timer_armed_ = false;
  uint64_t min_interval_ns_ = 0;
  uint64_t last_drain_ns_ = 0;
  bool polling_ = false;
  bool closed_ = false;
  bool in_callback_ = false;
  bool draining_ = false;  // inside ring_buffer__consume(): freeing rb_ now would be use-after-free
  bool close_pending_ = false;
  Napi::Env env_;
  Napi::FunctionReference on_batch_;
  Napi::ObjectReference map_ref_;  // keeps the map (and its object) alive
  Napi::Reference<Napi::Buffer<uint8_t>> pool_ref_;
  uint8_t *pool_ = nullptr;
  size_t pool_size_ = 0;
  size_t used_ = 0;
  uint32_t count_ = 0;
  uint32_t max_per_tick_ = 0;
  uint32_t tick_records_ = 0;
  Napi::AsyncContext *async_ = nullptr;
  // counters (exported by stats())
  double batches_ = 0;
  double records_ = 0;
  double bytes_ = 0;
  double oversize_ = 0;  // records larger than the pool: dropped and counted
  double capped_ticks_ = 0;  // polls that stopped at maxRecordsPerTick
  double coalesced_ = 0;  // switches from wakeup-driven to timed drains
};

}  // namespace aegis
