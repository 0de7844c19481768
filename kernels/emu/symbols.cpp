// Names and source locations for the emulator's reports and launch counts, read from the
// program's own symbol table and line tables through GCC's libbacktrace: kernel function
// pointer -> demangled kernel name; code address or calling frame -> "file:line" (needs -g on
// the kernel sources).
#include "emu/internal.h"

#include <backtrace.h>
#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace fovea::emu::detail {
namespace {

backtrace_state* symbol_state() {
  static backtrace_state* const state = backtrace_create_state(nullptr, 1, [](void*, const char*, int) {}, nullptr);
  return state;
}

std::string demangle(const char* symbol) {
  int status = 0;
  char* text = abi::__cxa_demangle(symbol, nullptr, nullptr, &status);
  if (status != 0 || text == nullptr) return symbol;
  std::string name(text);
  std::free(text);
  return name;
}

// "void fovea::k<16>(float*, int)" -> "fovea::k<16>": drops the parameter list and, for
// templates, the return type (separated by the last space outside brackets).
std::string strip_signature(const std::string& name) {
  int depth = 0;
  std::size_t end = name.size();
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    if (name[i] == '(' && --depth == 0) {
      end = i;
      break;
    }
  }
  std::size_t start = 0;
  depth = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const char c = name[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (c == ' ' && depth == 0) start = i + 1;
  }
  return name.substr(start, end - start);
}

}  // namespace

std::string kernel_name(const void* kernel) {
  static std::mutex mutex;
  static std::map<const void*, std::string> cache;
  std::lock_guard lock(mutex);
  if (const auto it = cache.find(kernel); it != cache.end()) return it->second;
  std::string symbol;
  backtrace_syminfo(
      symbol_state(), reinterpret_cast<std::uintptr_t>(kernel),
      [](void* data, std::uintptr_t, const char* name, std::uintptr_t, std::uintptr_t) {
        if (name != nullptr) *static_cast<std::string*>(data) = name;
      },
      [](void*, const char*, int) {}, &symbol);
  std::string name;
  if (symbol.empty()) {
    char text[32];
    std::snprintf(text, sizeof text, "kernel@%p", kernel);
    name = text;
  } else {
    name = strip_signature(demangle(symbol.c_str()));
  }
  cache.emplace(kernel, name);
  return name;
}

std::string relative_path(const char* path) {
  if (path == nullptr) return "?";
#if defined(FOVEA_EMU_SOURCE_DIR)
  const std::size_t prefix = std::strlen(FOVEA_EMU_SOURCE_DIR);
  if (std::strncmp(path, FOVEA_EMU_SOURCE_DIR, prefix) == 0) return path + prefix;
#endif
  return path;
}

namespace {

// Frames of the emulator and of the standard library are skipped when naming a site.
bool is_user_file(const std::string& path) {
  return path.find("kernels/emu/") == std::string::npos && path.rfind("/usr/", 0) != 0;
}

}  // namespace

std::string caller_location() {
  std::string found;
  backtrace_full(
      symbol_state(), 1,
      [](void* data, std::uintptr_t, const char* file, int line, const char*) -> int {
        if (file == nullptr) return 0;
        const std::string path = relative_path(file);
        if (!is_user_file(path)) return 0;
        *static_cast<std::string*>(data) = path + ":" + std::to_string(line);
        return 1;
      },
      [](void*, const char*, int) {}, &found);
  return found;
}

std::string source_location(const void* pc) {
  struct Found {
    std::string location;
  } found;
  backtrace_pcinfo(
      symbol_state(), reinterpret_cast<std::uintptr_t>(pc) - 1,
      [](void* data, std::uintptr_t, const char* file, int line, const char*) -> int {
        if (file == nullptr) return 0;
        const std::string path = relative_path(file);
        if (!is_user_file(path)) return 0;
        static_cast<Found*>(data)->location = path + ":" + std::to_string(line);
        return 1;
      },
      [](void*, const char*, int) {}, &found);
  return found.location;
}

}  // namespace fovea::emu::detail
