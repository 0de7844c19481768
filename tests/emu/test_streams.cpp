// Stream semantics of the SIMT emulator: work on a created stream is deferred until something
// synchronises with it, events and cudaStreamWaitEvent order streams, the legacy stream waits
// for blocking streams only, faults of deferred work surface at the synchronisation, and
// destroying a stream or freeing memory runs what is queued. Device memory is host memory under
// the emulator, but the tests read it through the runtime, as host code on a GPU must.
#include <cublas_v2.h>

#include "emu_test_util.h"
#include "tests/emu/test_kernels.h"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>
#include <utility>

namespace fovea::emu_test {
namespace {

std::vector<int> iota(int n) {
  std::vector<int> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 0);
  return values;
}

std::vector<int> reversed(std::vector<int> values) {
  std::reverse(values.begin(), values.end());
  return values;
}

std::vector<int> zeros(int n) { return std::vector<int>(static_cast<std::size_t>(n), 0); }

std::uint64_t launches_of(const std::string& kernel) {
  for (const auto& entry : fovea::emu::launch_counts())
    if (entry.kernel == kernel) return entry.launches;
  return 0;
}

class Stream {
 public:
  explicit Stream(unsigned flags = cudaStreamNonBlocking) {
    REQUIRE(cudaStreamCreateWithFlags(&stream_, flags) == cudaSuccess);
  }
  ~Stream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  // Destroys the stream now (the destructor then does nothing).
  cudaError_t destroy() { return cudaStreamDestroy(std::exchange(stream_, nullptr)); }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event() { REQUIRE(cudaEventCreate(&event_) == cudaSuccess); }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

template <typename T>
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t count) : count_(count) {
    REQUIRE(cudaMallocHost(&data_, count * sizeof(T)) == cudaSuccess);
    std::fill(data_, data_ + count, T{});
  }
  ~PinnedBuffer() { cudaFreeHost(data_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  T* get() const { return data_; }
  std::vector<T> values() const { return std::vector<T>(data_, data_ + count_); }

 private:
  T* data_ = nullptr;
  std::size_t count_;
};

const char* const reverse_kernel = "fovea::emu_test::reverse_with_barrier";

}  // namespace

TEST_SUITE("emu") {

TEST_CASE("emu/stream work on a non-blocking stream runs at its synchronisation") {
  CleanEmulator clean;
  Stream stream;
  DeviceBuffer<int> in(iota(64)), out(64);
  PinnedBuffer<int> host(64);

  const std::uint64_t before = launches_of(reverse_kernel);
  CHECK(launch_reverse(true, in.get(), out.get(), stream.get()) == cudaSuccess);
  CHECK(cudaMemcpyAsync(host.get(), out.get(), 64 * sizeof(int), cudaMemcpyDeviceToHost, stream.get()) == cudaSuccess);
  // Legacy-stream copies do not wait for a non-blocking stream: the kernel has not run yet.
  CHECK(out.download() == zeros(64));
  CHECK(host.values() == zeros(64));
  CHECK(launches_of(reverse_kernel) == before);

  CHECK(cudaStreamSynchronize(stream.get()) == cudaSuccess);
  CHECK(out.download() == reversed(iota(64)));
  CHECK(host.values() == reversed(iota(64)));
  CHECK(launches_of(reverse_kernel) == before + 1);

  // A memset, and a copy from pageable memory (staged at the call, so the source may change).
  std::vector<int> pageable = iota(64);
  CHECK(cudaMemsetAsync(out.get(), 0, 64 * sizeof(int), stream.get()) == cudaSuccess);
  CHECK(cudaMemcpyAsync(in.get(), pageable.data(), 64 * sizeof(int), cudaMemcpyHostToDevice, stream.get()) == cudaSuccess);
  pageable.assign(64, -1);
  CHECK(out.download() == reversed(iota(64)));
  CHECK(cudaStreamQuery(stream.get()) == cudaSuccess);
  CHECK(out.download() == zeros(64));
  CHECK(in.download() == iota(64));
}

TEST_CASE("emu/stream events and cudaStreamWaitEvent order two streams") {
  CleanEmulator clean;
  Stream first, second, unordered;
  Event written, timed;
  DeviceBuffer<int> in(iota(64)), middle(64), out(64), alone(64);

  // first: in -> middle; second waits for it, then middle -> out.
  CHECK(cudaEventRecord(timed.get(), first.get()) == cudaSuccess);
  CHECK(launch_reverse(true, in.get(), middle.get(), first.get()) == cudaSuccess);
  CHECK(cudaEventRecord(written.get(), first.get()) == cudaSuccess);
  CHECK(cudaStreamWaitEvent(second.get(), written.get(), 0) == cudaSuccess);
  CHECK(launch_reverse(true, middle.get(), out.get(), second.get()) == cudaSuccess);
  // Without a wait, a stream reading `middle` runs before the writer.
  CHECK(launch_reverse(true, middle.get(), alone.get(), unordered.get()) == cudaSuccess);
  // Work recorded after the event is not part of the wait.
  CHECK(launch_reverse(true, in.get(), in.get(), first.get()) == cudaSuccess);
  CHECK(cudaEventRecord(written.get(), first.get()) == cudaSuccess);

  float milliseconds = -1.0f;
  CHECK(cudaEventElapsedTime(&milliseconds, timed.get(), written.get()) == cudaErrorNotReady);
  CHECK(cudaStreamSynchronize(unordered.get()) == cudaSuccess);
  CHECK(alone.download() == zeros(64));
  CHECK(middle.download() == zeros(64));

  CHECK(cudaStreamSynchronize(second.get()) == cudaSuccess);
  CHECK(out.download() == iota(64));
  CHECK(middle.download() == reversed(iota(64)));
  CHECK(in.download() == iota(64));  // the in-place reverse after the first record has not run

  CHECK(cudaEventQuery(written.get()) == cudaSuccess);
  CHECK(in.download() != iota(64));
  CHECK(cudaEventElapsedTime(&milliseconds, timed.get(), written.get()) == cudaSuccess);
  CHECK(milliseconds >= 0.0f);
}

TEST_CASE("emu/stream cudaEventSynchronize runs its stream up to the record") {
  CleanEmulator clean;
  Stream stream;
  Event event, never_recorded;
  DeviceBuffer<int> in(iota(64)), middle(64), out(64);
  CHECK(launch_reverse(true, in.get(), middle.get(), stream.get()) == cudaSuccess);
  CHECK(cudaEventRecord(event.get(), stream.get()) == cudaSuccess);
  CHECK(launch_reverse(true, middle.get(), out.get(), stream.get()) == cudaSuccess);
  CHECK(cudaEventSynchronize(never_recorded.get()) == cudaSuccess);
  CHECK(cudaEventSynchronize(event.get()) == cudaSuccess);
  CHECK(middle.download() == reversed(iota(64)));
  CHECK(out.download() == zeros(64));
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download() == iota(64));
}

TEST_CASE("emu/stream legacy stream work waits for blocking streams only") {
  CleanEmulator clean;
  Stream blocking(cudaStreamDefault), non_blocking;
  Event on_non_blocking, on_legacy;
  DeviceBuffer<int> in(iota(64)), from_blocking(64), from_non_blocking(64), legacy_out(64);

  CHECK(launch_reverse(true, in.get(), from_blocking.get(), blocking.get()) == cudaSuccess);
  CHECK(launch_reverse(true, in.get(), from_non_blocking.get(), non_blocking.get()) == cudaSuccess);
  CHECK(cudaEventRecord(on_non_blocking.get(), non_blocking.get()) == cudaSuccess);
  // A legacy-stream launch runs at the call, after the blocking stream's work.
  CHECK(launch_reverse(true, from_blocking.get(), legacy_out.get()) == cudaSuccess);
  CHECK(legacy_out.download() == iota(64));
  CHECK(from_non_blocking.download() == zeros(64));

  // An event recorded on the legacy stream has completed at once.
  CHECK(cudaEventRecord(on_legacy.get(), nullptr) == cudaSuccess);
  CHECK(cudaEventQuery(on_legacy.get()) == cudaSuccess);
  CHECK(from_non_blocking.download() == zeros(64));

  // The legacy stream waiting for an event runs the non-blocking stream up to it.
  CHECK(cudaStreamWaitEvent(cudaStreamLegacy, on_non_blocking.get(), 0) == cudaSuccess);
  CHECK(from_non_blocking.download() == reversed(iota(64)));
}

TEST_CASE("emu/stream fault in deferred work is reported at the synchronisation") {
  CleanEmulator clean;
  Stream stream;
  DeviceBuffer<int> out(64), in(iota(64)), after(64);

  CHECK(launch_barrier_after_early_exit(out.get(), stream.get()) == cudaSuccess);
  CHECK(launch_reverse(true, in.get(), after.get(), stream.get()) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());
  CHECK(cudaGetLastError() == cudaSuccess);

  // Argument errors are still returned at the call.
  CHECK(cudaMemsetAsync(out.get() + 60, 0, 8 * sizeof(int), stream.get()) == cudaErrorInvalidValue);
  CHECK(cudaMemcpyAsync(out.get(), in.get(), 64 * sizeof(int), cudaMemcpyHostToDevice, stream.get()) ==
        cudaErrorInvalidValue);
  fovea::emu::clear_error();

  CHECK(cudaStreamSynchronize(stream.get()) == cudaErrorLaunchFailure);
  const std::string report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(report, "barrier divergence in kernel 'fovea::emu_test::barrier_after_early_exit' block (0,0,0) "
                                 "thread (0,0,0) at " + kernel_site("divergent-exit")),
                report);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure);
  // Work queued behind the fault does not run on the poisoned device.
  CHECK(cudaDeviceReset() == cudaSuccess);
  CHECK(after.download() == zeros(64));

  CHECK(launch_reverse(true, in.get(), after.get(), stream.get()) == cudaSuccess);
  CHECK(cudaStreamSynchronize(stream.get()) == cudaSuccess);
  CHECK(after.download() == reversed(iota(64)));
}

TEST_CASE("emu/stream destroy and cudaFree run queued work") {
  CleanEmulator clean;
  DeviceBuffer<int> in(iota(64)), out(64);
  {
    Stream stream;
    const cudaStream_t destroyed = stream.get();
    CHECK(launch_reverse(true, in.get(), out.get(), stream.get()) == cudaSuccess);
    CHECK(out.download() == zeros(64));
    CHECK(stream.destroy() == cudaSuccess);
    CHECK(out.download() == reversed(iota(64)));
    CHECK(cudaMemsetAsync(out.get(), 0, 64 * sizeof(int), destroyed) == cudaErrorInvalidResourceHandle);
  }
  Stream stream;
  CHECK(cudaMemsetAsync(out.get(), 0, 64 * sizeof(int), stream.get()) == cudaSuccess);
  int* scratch = nullptr;
  REQUIRE(cudaMalloc(&scratch, 16) == cudaSuccess);
  CHECK(out.download() == reversed(iota(64)));
  CHECK(cudaFree(scratch) == cudaSuccess);
  CHECK(out.download() == zeros(64));
}

TEST_CASE("emu/stream calls reject bad flags and dead handles at the call") {
  CleanEmulator clean;
  cudaStream_t stream = nullptr;
  CHECK(cudaStreamCreateWithFlags(&stream, 0x80) == cudaErrorInvalidValue);
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  cudaEvent_t event = nullptr;
  REQUIRE(cudaEventCreate(&event) == cudaSuccess);
  REQUIRE(cudaEventDestroy(event) == cudaSuccess);
  CHECK(cudaStreamWaitEvent(stream, event, 0) == cudaErrorInvalidResourceHandle);
  CHECK(cudaEventRecord(event, stream) == cudaErrorInvalidResourceHandle);
  CHECK(cudaEventSynchronize(event) == cudaErrorInvalidResourceHandle);
  REQUIRE(cudaStreamDestroy(stream) == cudaSuccess);
  CHECK(cudaStreamSynchronize(stream) == cudaErrorInvalidResourceHandle);
  CHECK(cudaStreamQuery(stream) == cudaErrorInvalidResourceHandle);
  DeviceBuffer<int> in(iota(64)), out(64);
  CHECK(launch_reverse(true, in.get(), out.get(), stream) == cudaErrorInvalidResourceHandle);
  CHECK(contains(fovea::emu::last_report(), "the stream was destroyed or never created"));
}

TEST_CASE("emu/stream cublas gemm on a handle bound to a stream is deferred") {
  CleanEmulator clean;
  Stream stream;
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetStream(handle, stream.get()) == CUBLAS_STATUS_SUCCESS);
  // Column-major 2x2: A = [1 3; 2 4], B = identity, so C = alpha * A.
  DeviceBuffer<float> a(std::vector<float>{1, 2, 3, 4}), b(std::vector<float>{1, 0, 0, 1}), c(4);
  float alpha = 2.0f;
  const float beta = 0.0f;
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a.get(), 2, b.get(), 2, &beta, c.get(), 2) ==
        CUBLAS_STATUS_SUCCESS);
  alpha = 100.0f;  // cuBLAS reads host scalars at the call
  CHECK(c.download() == std::vector<float>(4, 0.0f));
  CHECK(cudaStreamSynchronize(stream.get()) == cudaSuccess);
  CHECK(c.download() == std::vector<float>{2, 4, 6, 8});
  CHECK(cublasDestroy(handle) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("emu/stream deferred launches keep the seeded schedule") {
  const auto order_on = [](cudaStream_t stream) {
    CleanEmulator clean(7);
    DeviceBuffer<int> next(1), order(64);
    REQUIRE(launch_arrival_order(next.get(), order.get(), stream) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    return order.download();
  };
  Stream stream;
  CHECK(order_on(stream.get()) == order_on(nullptr));
}

TEST_CASE("emu/stream events synchronised from another host thread") {
  CleanEmulator clean;
  constexpr int count = 200;
  Stream stream;
  std::vector<Event> events(count);
  DeviceBuffer<unsigned char> bytes(count);
  std::atomic<int> published{0};
  std::thread producer([&] {
    for (int i = 0; i < count; ++i) {
      CHECK(cudaMemsetAsync(bytes.get() + i, i % 251 + 1, 1, stream.get()) == cudaSuccess);
      CHECK(cudaEventRecord(events[static_cast<std::size_t>(i)].get(), stream.get()) == cudaSuccess);
      published.store(i + 1, std::memory_order_release);
    }
  });
  int mismatches = 0;
  for (int i = 0; i < count; ++i) {
    while (published.load(std::memory_order_acquire) <= i) std::this_thread::yield();
    REQUIRE(cudaEventSynchronize(events[static_cast<std::size_t>(i)].get()) == cudaSuccess);
    unsigned char value = 0;
    REQUIRE(cudaMemcpy(&value, bytes.get() + i, 1, cudaMemcpyDeviceToHost) == cudaSuccess);
    if (value != i % 251 + 1) ++mismatches;
  }
  producer.join();
  CHECK(mismatches == 0);
  CHECK(cudaStreamSynchronize(stream.get()) == cudaSuccess);
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
