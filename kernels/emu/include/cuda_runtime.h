// The emulated build's cuda_runtime.h. It stands in front of the toolkit's header on the
// include path of everything linked to fovea_emu: types, enums and the C runtime API come from
// the real cuda_runtime_api.h (implemented by the emulator library instead of cudart), plus the
// C++ templates of the real cuda_runtime.h that code uses, with cudaLaunchKernelEx handing the
// kernel to the emulator (which runs it at once or queues it on its stream).
#pragma once

#include <cuda_runtime_api.h>
#include <vector_functions.h>

#include <tuple>
#include <type_traits>
#include <utility>

namespace fovea::emu::detail {
using KernelInvoker = void (*)(const void* kernel, void* arguments);
using ArgumentsDeleter = void (*)(void* arguments);
// Takes ownership of `arguments`, the kernel's parameters on the heap, and frees them with
// `release` once the launch has run (on a created stream, later than the call). No shared_ptr
// here: kernel files of the race build must not contain atomics of their own.
cudaError_t launch(const cudaLaunchConfig_t* config, const void* kernel, KernelInvoker invoke, void* arguments,
                   ArgumentsDeleter release);
}  // namespace fovea::emu::detail

template <typename... ExpTypes, typename... ActTypes>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(ExpTypes...), ActTypes&&... args) {
  static_assert(sizeof...(ExpTypes) == sizeof...(ActTypes), "cudaLaunchKernelEx: wrong number of kernel arguments");
  using Arguments = std::tuple<std::decay_t<ExpTypes>...>;
  const auto invoke = [](const void* fn, void* packed) {
    std::apply(reinterpret_cast<void (*)(ExpTypes...)>(const_cast<void*>(fn)), *static_cast<Arguments*>(packed));
  };
  const auto release = [](void* packed) { delete static_cast<Arguments*>(packed); };
  return fovea::emu::detail::launch(config, reinterpret_cast<const void*>(kernel), invoke,
                                    new Arguments(std::forward<ActTypes>(args)...), release);
}

template <class T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return ::cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}

template <class T>
cudaError_t cudaMallocHost(T** pointer, size_t bytes, unsigned int flags = 0) {
  return ::cudaHostAlloc(reinterpret_cast<void**>(pointer), bytes, flags);
}

template <class T>
cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attribute, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attribute, value);
}
