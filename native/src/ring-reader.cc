// SPDX-License-Identifier: Apache-2.0
#include "ring-reader.h"

#include <bpf/libbpf.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpf-map.h"
#include "errors.h"

namespace aegis {

namespace {

constexpr size_t kFrameHeader = 8;  // u32 length + u32 reserved
constexpr int kStopTick = -EAGAIN;  // OnSample's "enough for this tick"

size_t Align8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

}  // namespace

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {
                         InstanceMethod<&RingReader::Start>("start"),
                         InstanceMethod<&RingReader::Stop>("stop"),
                         InstanceMethod<&RingReader::Consume>("consume"),
                         InstanceMethod<&RingReader::Close>("close"),
                         InstanceMethod<&RingReader::Stats>("stats"),
                     });
}

RingReader::RingReader(const Napi::CallbackInfo &info) : Napi::ObjectWrap<RingReader>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw MakeError(env, kErrInvalidArg, 0, "new RingReader(map, onBatch, options?)");
  Napi::Object map_obj = info[0].As<Napi::Object>();
  BpfMap *map = BpfMap::Unwrap(map_obj);
  if (map == nullptr || !map->IsUsable())
    throw MakeError(env, kErrInvalidArg, 0, "RingReader needs an open ring buffer map");
  uint32_t batch_bytes = 1 << 20;
  max_per_tick_ = 65536;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object opts = info[2].As<Napi::Object>();
    if (opts.Get("batchBytes").IsNumber()) batch_bytes = opts.Get("batchBytes").As<Napi::Number>().Uint32Value();
    if (opts.Get("maxRecordsPerTick").IsNumber())
      max_per_tick_ = opts.Get("maxRecordsPerTick").As<Napi::Number>().Uint32Value();
    if (opts.Get("minIntervalMicros").IsNumber())
      min_interval_ns_ = static_cast<uint64_t>(opts.Get("minIntervalMicros").As<Napi::Number>().Uint32Value()) * 1000;
  }
  if (batch_bytes < 4096) batch_bytes = 4096;
  if (max_per_tick_ == 0) max_per_tick_ = 1;

  errno = 0;
  rb_ = ring_buffer__new(map->fd(), &RingReader::OnSample, this, nullptr);
  if (rb_ == nullptr) throw MakeError(env, kErrRing, errno, "ring_buffer__new failed");

  auto pool = Napi::Buffer<uint8_t>::New(env, batch_bytes);
  pool_ = pool.Data();
  pool_size_ = pool.Length();
  pool_ref_ = Napi::Reference<Napi::Buffer<uint8_t>>::New(pool, 1);
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  map_ref_ = Napi::Persistent(map_obj);
  async_ = new Napi::AsyncContext(env, "aegis:ring-reader");
}

RingReader::~RingReader() {
  CloseHandles();
  delete async_;
}

// Runs inside ring_buffer__consume(), on the JS thread. The record has
// already been consumed from the ring when we get it (libbpf advances the
// consumer position first), so it must be copied or counted, never left.
int RingReader::OnSample(void *ctx, void *data, size_t size) {
  auto *self = static_cast<RingReader *>(ctx);
  if (self->closed_) return kStopTick;
  size_t frame = kFrameHeader + Align8(size);
  if (frame > self->pool_size_) {
    self->oversize_++;
    return 0;
  }
  if (self->used_ + frame > self->pool_size_) self->Flush(self->env_);
  uint8_t *dst = self->pool_ + self->used_;
  uint32_t len = static_cast<uint32_t>(size);
  std::memcpy(dst, &len, 4);
  std::memset(dst + 4, 0, 4);
  std::memcpy(dst + kFrameHeader, data, size);
  self->used_ += frame;
  self->count_++;
  self->records_++;
  self->bytes_ += static_cast<double>(size);
  if (++self->tick_records_ >= self->max_per_tick_) return kStopTick;
  return 0;
}

// One JS call for everything copied so far. Exceptions thrown by the JS
// callback become uncaught exceptions (there is no JS caller to return to).
void RingReader::Flush(Napi::Env env) {
  if (count_ == 0 || closed_) return;
  Napi::HandleScope scope(env);
  Napi::Value buf = pool_ref_.Value();
  uint32_t bytes = static_cast<uint32_t>(used_);
  uint32_t count = count_;
  used_ = 0;
  count_ = 0;
  batches_++;
  in_callback_ = true;
  try {
    on_batch_.MakeCallback(Value(), {buf, Napi::Number::New(env, bytes), Napi::Number::New(env, count)}, *async_);
  } catch (const Napi::Error &e) {
    in_callback_ = false;
    napi_fatal_exception(env, e.Value());
    return;
  }
  in_callback_ = false;
}

int RingReader::Drain(Napi::Env env) {
  tick_records_ = 0;
  draining_ = true;
  int n = ring_buffer__consume(rb_);
  if (n == kStopTick) {
    capped_ticks_++;
    n = 0;
  }
  Flush(env);
  draining_ = false;
  if (close_pending_) CloseHandles();  // close() was called from the batch callback
  return n;
}

int RingReader::DrainNow(Napi::Env env) {
  last_drain_ns_ = uv_hrtime();
  return Drain(env);
}

bool RingReader::ArmTimer() {
  struct itimerspec its = {};
  its.it_value.tv_sec = static_cast<time_t>(min_interval_ns_ / 1000000000ULL);
  its.it_value.tv_nsec = static_cast<long>(min_interval_ns_ % 1000000000ULL);
  if (timerfd_settime(timer_fd_, 0, &its, nullptr) != 0) return false;
  timer_armed_ = true;
  return true;
}

void RingReader::OnPoll(uv_poll_t *handle, int status, int events) {
  auto *self = static_cast<RingReader *>(handle->data);
  if (self == nullptr || self->closed_ || self->rb_ == nullptr) return;
  Napi::HandleScope scope(self->env_);
  int n = self->DrainNow(self->env_);
  // Records are flowing: switch to timed drains (see ring-reader.h).
  if (n > 0 && self->min_interval_ns_ > 0 && self->timer_fd_ >= 0 && self->polling_ && !self->closed_ &&
      self->ArmTimer()) {
    uv_poll_stop(self->poll_);
    self->coalesced_++;
  }
}

void RingReader::OnTimer(uv_poll_t *handle, int status, int events) {
  auto *self = static_cast<RingReader *>(handle->data);
  if (self == nullptr || self->closed_ || self->rb_ == nullptr) return;
  uint64_t expirations;
  if (read(self->timer_fd_, &expirations, sizeof(expirations)) < 0) return;  // spurious
  self->timer_armed_ = false;
  Napi::HandleScope scope(self->env_);
  int n = self->DrainNow(self->env_);
  if (!self->polling_ || self->closed_) return;
  if (n > 0 && self->ArmTimer()) return;  // still busy: next timed drain
  self->StartRingPoll();                 // quiet: back to waiting on the ring
}

void RingReader::StartRingPoll() { uv_poll_start(poll_, UV_READABLE, &RingReader::OnPoll); }

Napi::Value RingReader::Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeError(env, kErrBpfState, 0, "ring reader is closed");
  if (polling_) return env.Undefined();
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  if (poll_ == nullptr) {
    poll_ = new uv_poll_t;
    int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
    if (err) {
      delete poll_;
      poll_ = nullptr;
      throw MakeError(env, kErrRing, -err, "uv_poll_init on the ring buffer epoll fd failed");
    }
    poll_->data = this;
  }
  if (min_interval_ns_ > 0 && timer_poll_ == nullptr) {
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) throw MakeError(env, kErrRing, errno, "timerfd_create failed");
    timer_poll_ = new uv_poll_t;
    int err = uv_poll_init(loop, timer_poll_, timer_fd_);
    if (err) {
      delete timer_poll_;
      timer_poll_ = nullptr;
      throw MakeError(env, kErrRing, -err, "uv_poll_init on the coalescing timerfd failed");
    }
    timer_poll_->data = this;
    uv_poll_start(timer_poll_, UV_READABLE, &RingReader::OnTimer);
  }
  int err = timer_armed_ ? 0 : uv_poll_start(poll_, UV_READABLE, &RingReader::OnPoll);
  if (err) throw MakeError(env, kErrRing, -err, "uv_poll_start failed");
  polling_ = true;
  Ref();  // a running reader must not be collected
  return env.Undefined();
}

// Stop polling (backpressure): the kernel keeps writing until the ring is
// full, then counts drops. Start() resumes.
Napi::Value RingReader::Stop(const Napi::CallbackInfo &info) {
  if (polling_ && poll_ != nullptr) {
    uv_poll_stop(poll_);
    if (timer_armed_) {
      struct itimerspec off = {};
      timerfd_settime(timer_fd_, 0, &off, nullptr);
      timer_armed_ = false;
    }
    polling_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

// Synchronous drain (tests, benchmarks, final flush). Returns records consumed.
Napi::Value RingReader::Consume(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeError(env, kErrBpfState, 0, "ring reader is closed");
  if (in_callback_) throw MakeError(env, kErrBpfState, 0, "consume() called from inside the batch callback");
  return Napi::Number::New(env, Drain(env));
}

void RingReader::CloseHandles() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    poll_ = nullptr;
  }
  if (timer_poll_ != nullptr) {
    uv_poll_stop(timer_poll_);
    timer_poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t *>(timer_poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    timer_poll_ = nullptr;
  }
  if (timer_fd_ >= 0) close(timer_fd_);
  timer_fd_ = -1;
  if (rb_ != nullptr) ring_buffer__free(rb_);
  rb_ = nullptr;
}

Napi::Value RingReader::Close(const Napi::CallbackInfo &info) {
  if (closed_) return info.Env().Undefined();
  if (polling_) {
    polling_ = false;
    uv_poll_stop(poll_);
    Unref();
  }
  closed_ = true;
  if (draining_)
    close_pending_ = true;
  else
    CloseHandles();
  on_batch_.Reset();
  map_ref_.Reset();
  return info.Env().Undefined();
}

Napi::Value RingReader::Stats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("batches", batches_);
  o.Set("records", records_);
  o.Set("bytes", bytes_);
  o.Set("oversize", oversize_);
  o.Set("cappedTicks", capped_ticks_);
  o.Set("coalesced", coalesced_);
  o.Set("polling", polling_);
  return o;
}

}  // namespace aegis
