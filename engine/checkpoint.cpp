// safetensors reading and writing (with a small JSON reader and writer for the header),
// atomic file replacement, and the Checkpoint layout on top of them.
#include "engine/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "engine/ops.h"
#include "profiling/nvtx.h"

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

#include "engine/json.h"

namespace fovea {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr const char* kFormat = "fovea.checkpoint.1";

// ---- dtypes ----

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::u8: return "U8";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::f32: return "F32";
    case DType::f64: return "F64";
  }
  return "?";
}

std::optional<DType> parse_dtype(const std::string& name) {
  for (DType d : {DType::u8, DType::i32, DType::i64, DType::f32, DType::f64})
    if (name == safetensors_dtype(d)) return d;
  return std::nullopt;
}

bool is_other_safetensors_dtype(const std::string& name) {
  for (const char* known : {"BOOL", "I8", "I16", "U16", "U32", "U64", "F16", "BF16", "F8_E4M3", "F8_E5M2",
                            "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"})
    if (name == known) return true;
  return false;
}

// ---- files ----

std::string errno_text(int error) {
  return std::string(std::strerror(error)) + " (errno " + std::to_string(error) + ")";
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

struct Chunk {
  const void* data;
  size_t size;
};

// Writes `chunks` to a temporary file next to `path`, fsyncs it, renames it over `path` and
// fsyncs the directory. On failure the temporary file is removed and `path` is untouched.
void write_atomically(const std::string& path, const std::vector<Chunk>& chunks, const char* op) {
  const std::string dir = parent_directory(path);
  const std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  FOVEA_CHECK(!base.empty(), op, path, ": the path names a directory, not a file");
  std::string temp = dir + "/." + base + ".tmp.XXXXXX";
  FileDescriptor fd(::mkstemp(temp.data()));
  FOVEA_CHECK(fd.get() >= 0, op, path, ": cannot create a temporary file in directory '", dir, "': ",
              errno_text(errno), "; check that the directory exists and is writable");
  auto fail = [&](const std::string& what, int error) {
    ::close(fd.release());
    ::unlink(temp.c_str());
    FOVEA_FAIL(op, path, ": ", what, ": ", errno_text(error), "; the previous file at this path, if any, is untouched");
  };
  size_t total = 0, written = 0;
  for (const Chunk& c : chunks) total += c.size;
  for (const Chunk& c : chunks) {
    const char* p = static_cast<const char*>(c.data);
    size_t left = c.size;
    while (left > 0) {
      const ssize_t n = ::write(fd.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        fail("writing the temporary file failed after " + std::to_string(written) + " of " + std::to_string(total) +
                 " bytes",
             n < 0 ? errno : ENOSPC);
      p += n;
      left -= static_cast<size_t>(n);
      written += static_cast<size_t>(n);
    }
  }
  if (::fchmod(fd.get(), 0644) != 0) fail("cannot set the temporary file's permissions", errno);
  if (::fsync(fd.get()) != 0) fail("fsync of the temporary file failed", errno);
  if (::close(fd.release()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    FOVEA_FAIL(op, path, ": closing the temporary file failed: ", errno_text(error),
               "; the previous file at this path, if any, is untouched");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    FOVEA_FAIL(op, path, ": cannot rename the temporary file over it: ", errno_text(error),
               "; the previous file at this path, if any, is untouched");
  }
  FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  FOVEA_CHECK(dir_fd.get() >= 0 && (::fsync(dir_fd.get()) == 0 || errno == EINVAL), op, path,
              ": written, but syncing directory '", dir, "' failed: ", errno_text(errno),
              "; the new file may not survive a crash");
}

void read_exactly(int fd, void* out, uint64_t size, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    FOVEA_CHECK(n > 0, "load_safetensors", path, ": reading ", size, " bytes at offset ", offset, " failed: ",
                n < 0 ? errno_text(errno) : std::string("unexpected end of file"));
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

// ---- header validation ----

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

uint64_t parse_unsigned(const Json& value, const std::string& path, const std::string& what) {
  FOVEA_CHECK(value.kind == Json::Kind::number, "load_safetensors", path, ": ", what, " must be a number, got ",
              kind_name(value.kind));
  uint64_t out = 0;
  const char* first = value.text.data();
  const char* last = first + value.text.size();
  const auto [ptr, ec] = std::from_chars(first, last, out);
  FOVEA_CHECK(ec == std::errc() && ptr == last, "load_safetensors", path, ": ", what,
              " must be a non-negative integer below 2^64, got ", value.text);
  return out;
}

Entry parse_entry(const std::string& name, const Json& info, const std::string& path) {
  const std::string where = "tensor '" + name + "'";
  FOVEA_CHECK(info.kind == Json::Kind::object, "load_safetensors", path, ": ", where, " must be an object, got ",
              kind_name(info.kind));
  const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [key, value] : info.members) {
    if (key == "dtype") dtype = &value;
    else if (key == "shape") shape = &value;
    else if (key == "data_offsets") offsets = &value;
    else FOVEA_FAIL("load_safetensors", path, ": ", where, " has an unknown field '", key,
                    "' (expected dtype, shape, data_offsets)");
  }
  FOVEA_CHECK(dtype && shape && offsets, "load_safetensors", path, ": ", where,
              " must have the fields dtype, shape and data_offsets");
  FOVEA_CHECK(dtype->kind == Json::Kind::string, "load_safetensors", path, ": ", where, " dtype must be a string");
  const std::optional<DType> parsed = parse_dtype(dtype->text);
  FOVEA_CHECK(parsed, "load_safetensors", path, ": ", where, " has ",
              is_other_safetensors_dtype(dtype->text) ? "dtype " : "unknown dtype ", "'", dtype->text, "'",
              is_other_safetensors_dtype(dtype->text) ? ", which fovea does not support" : "",
              "; supported: F32, F64, I32, I64, U8");
  Entry entry{name, *parsed, {}, 0, 0};
  FOVEA_CHECK(shape->kind == Json::Kind::array, "load_safetensors", path, ": ", where, " shape must be an array");
  uint64_t bytes = static_cast<uint64_t>(dtype_size(entry.dtype));
  for (const Json& dim : shape->items) {
    const uint64_t size = parse_unsigned(dim, path, where + " shape entry");
    FOVEA_CHECK(!__builtin_mul_overflow(bytes, size, &bytes) && size <= uint64_t{INT64_MAX}, "load_safetensors",
                path, ": ", where, " has a shape whose byte size overflows 64 bits; the header is hostile or corrupt");
    entry.shape.push_back(static_cast<int64_t>(size));
  }
  FOVEA_CHECK(offsets->kind == Json::Kind::array && offsets->items.size() == 2, "load_safetensors", path, ": ", where,
              " data_offsets must be an array [begin, end]");
  entry.begin = parse_unsigned(offsets->items[0], path, where + " data_offsets begin");
  entry.end = parse_unsigned(offsets->items[1], path, where + " data_offsets end");
  FOVEA_CHECK(entry.begin <= entry.end, "load_safetensors", path, ": ", where, " data_offsets [", entry.begin, ", ",
              entry.end, ") end before they begin");
  FOVEA_CHECK(entry.end - entry.begin == bytes, "load_safetensors", path, ": ", where, " data_offsets [", entry.begin,
              ", ", entry.end, ") span ", entry.end - entry.begin, " bytes, but shape ", shape_str(entry.shape), " of ",
              dtype->text, " needs ", bytes);
  return entry;
}

// Ranges must tile [0, data_size) in offset order, as the format requires.
void check_layout(std::vector<Entry>& entries, uint64_t data_size, const std::string& path) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    FOVEA_CHECK(e.end <= data_size, "load_safetensors", path, ": tensor '", e.name, "' data_offsets [", e.begin, ", ",
                e.end, ") lie outside the data section of ", data_size, " bytes; the file is truncated or corrupt");
    FOVEA_CHECK(e.begin >= expected, "load_safetensors", path, ": tensor '", e.name, "' data_offsets [", e.begin, ", ",
                e.end, ") overlap those of tensor '", previous ? previous->name : "", "', which end at ", expected);
    FOVEA_CHECK(e.begin == expected, "load_safetensors", path, ": ", e.begin - expected,
                " unused bytes in the data section before tensor '", e.name, "' (offset ", expected,
                "); safetensors data must have no gaps");
    expected = e.end;
    previous = &e;
  }
  FOVEA_CHECK(expected == data_size, "load_safetensors", path, ": ", data_size - expected,
              " trailing bytes after the last tensor's data (data section is ", data_size, " bytes, tensors cover ",
              expected, ")");
}

// ---- number formatting for metadata ----

std::string format_double(double value) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

template <typename T>
T parse_metadata_number(const Metadata& metadata, const std::string& key, const std::string& path) {
  const auto it = metadata.find(key);
  FOVEA_CHECK(it != metadata.end(), "load_checkpoint", path, ": missing metadata entry '", key, "'");
  T value{};
  const char* first = it->second.data();
  const char* last = first + it->second.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  FOVEA_CHECK(ec == std::errc() && ptr == last && first != last, "load_checkpoint", path, ": metadata entry '", key,
              "' = '", it->second, "' is not a valid number");
  return value;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

// ---- safetensors ----

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  FOVEA_NVTX_RANGE("save_safetensors");
  std::vector<std::pair<std::string, Tensor>> ordered;
  for (const auto& [name, t] : tensors) {
    FOVEA_CHECK(!name.empty() && name != "__metadata__", "save_safetensors", path, ": invalid tensor name '", name,
                "'");
    FOVEA_CHECK(t.defined(), "save_safetensors", path, ": tensor '", name, "' is undefined");
    ordered.emplace_back(name, t.detach().to(Device::cpu()).contiguous());
  }
  // Larger elements first keeps every tensor aligned to its element size.
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second.dtype()) > dtype_size(b.second.dtype());
  });
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ',';
      first = false;
      write_json_string(header, key);
      header += ':';
      write_json_string(header, value);
    }
    header += '}';
  }
  uint64_t offset = 0;
  std::vector<Chunk> chunks(1);
  for (const auto& [name, t] : ordered) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel() * dtype_size(t.dtype()));
    if (header.size() > 1) header += ',';
    write_json_string(header, name);
    header += ":{\"dtype\":\"";
    header += safetensors_dtype(t.dtype());
    header += "\",\"shape\":[";
    for (size_t d = 0; d < t.shape().size(); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(t.shape()[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
    chunks.push_back({t.raw_data(), static_cast<size_t>(bytes)});
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t header_size = header.size();
  std::string prefix(8, '\0');
  std::memcpy(prefix.data(), &header_size, 8);
  prefix += header;
  chunks[0] = {prefix.data(), prefix.size()};
  write_atomically(path, chunks, "save_safetensors");
}

TensorMap load_safetensors(const std::string& path, Metadata* metadata) {
  FOVEA_NVTX_RANGE("load_safetensors");
  FileDescriptor fd(::open(path.c_str(), O_RDONLY));
  FOVEA_CHECK(fd.get() >= 0, "load_safetensors", path, ": cannot open: ", errno_text(errno));
  struct stat info {};
  FOVEA_CHECK(::fstat(fd.get(), &info) == 0 && S_ISREG(info.st_mode), "load_safetensors", path,
              ": not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(info.st_size);
  FOVEA_CHECK(file_size >= 8, "load_safetensors", path, ": the file is ", file_size,
              " bytes, shorter than the 8-byte header length; it is truncated or not a safetensors file");
  uint64_t header_size = 0;
  read_exactly(fd.get(), &header_size, 8, 0, path);
  FOVEA_CHECK(header_size <= kMaxHeaderBytes, "load_safetensors", path, ": header length ", header_size,
              " exceeds the limit of ", kMaxHeaderBytes, " bytes; the file is corrupt or not a safetensors file");
  FOVEA_CHECK(header_size <= file_size - 8, "load_safetensors", path, ": header length ", header_size,
              " exceeds the ", file_size - 8, " bytes after the length field; the file is truncated or corrupt");
  std::string header(header_size, '\0');
  read_exactly(fd.get(), header.data(), header_size, 8, path);
  FOVEA_CHECK(header_size > 0 && header[0] == '{', "load_safetensors", path,
              ": the header must be a JSON object starting with '{'; the file is corrupt or not a safetensors file");
  const Json root = parse_json(header, "load_safetensors", path + ": the header", "the file is corrupt or not a safetensors file");
  FOVEA_CHECK(root.kind == Json::Kind::object, "load_safetensors", path, ": the header must be a JSON object");

  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members) {
    if (name != "__metadata__") {
      entries.push_back(parse_entry(name, value, path));
      continue;
    }
    FOVEA_CHECK(value.kind == Json::Kind::object, "load_safetensors", path,
                ": __metadata__ must be an object of strings, got ", kind_name(value.kind));
    for (const auto& [key, text] : value.members) {
      FOVEA_CHECK(text.kind == Json::Kind::string, "load_safetensors", path, ": __metadata__ entry '", key,
                  "' must be a string, got ", kind_name(text.kind));
      if (metadata) (*metadata)[key] = text.text;
    }
  }
  const uint64_t data_start = 8 + header_size;
  check_layout(entries, file_size - data_start, path);

  TensorMap out;
  for (const Entry& e : entries) {
    Tensor t = make_tensor(e.shape, e.dtype);
    read_exactly(fd.get(), t.raw_data(), e.end - e.begin, data_start + e.begin, path);
    out.emplace(e.name, std::move(t));
  }
  return out;
}

// ---- checkpoints ----

Checkpoint Checkpoint::capture(const nn::Module& model, const Optimizer* optimizer,
                               const std::vector<const LRScheduler*>& schedules) {
  Checkpoint out;
  out.model = model.state_dict();
  if (optimizer) out.optimizer = optimizer->state_dict();
  for (const LRScheduler* s : schedules) out.schedules.push_back(s->state_dict());
  return out;
}

void Checkpoint::restore(nn::Module& model, Optimizer* optimizer, const std::vector<LRScheduler*>& schedules) const {
  std::vector<std::string> sections;
  const nn::StateDictReport report = model.check_state_dict(this->model);
  if (!report.ok(true)) sections.push_back("model: " + report.describe(true));
  auto add_problems = [&](const std::string& title, const std::vector<std::string>& problems) {
    if (problems.empty()) return;
    std::string all;
    for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
    sections.push_back(title + ": " + all);
  };
  if (optimizer) add_problems("optimizer", optimizer->check_state_dict(this->optimizer));
  if (schedules.size() != this->schedules.size())
    sections.push_back("schedules: the checkpoint holds " + std::to_string(this->schedules.size()) +
                       " schedule states, " + std::to_string(schedules.size()) + " schedules were given");
  else
    for (size_t k = 0; k < schedules.size(); ++k)
      add_problems("schedule " + std::to_string(k), schedules[k]->check_state_dict(this->schedules[k]));
  if (!sections.empty()) {
    std::string all;
    for (const std::string& s : sections) all += (all.empty() ? "" : " | ") + s;
    FOVEA_FAIL("Checkpoint::restore", "the checkpoint does not fit: ", all);
  }
  model.load_state_dict(this->model);
  if (optimizer) optimizer->load_state_dict(this->optimizer);
  for (size_t k = 0; k < schedules.size(); ++k) schedules[k]->load_state_dict(this->schedules[k]);
}

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  TensorMap tensors;
  Metadata metadata{{"format", kFormat},
                    {"step", std::to_string(checkpoint.step)},
                    {"epoch", std::to_string(checkpoint.epoch)},
                    {"schedules", std::to_string(checkpoint.schedules.size())}};
  for (const auto& [key, t] : checkpoint.model) tensors["model/" + key] = t;
  for (const auto& [key, t] : checkpoint.optimizer.tensors) tensors["optimizer/" + key] = t;
  for (const auto& [key, t] : checkpoint.tensors) tensors["extra/" + key] = t;
  for (const auto& [key, value] : checkpoint.optimizer.scalars) metadata["optimizer/" + key] = format_double(value);
  for (size_t k = 0; k < checkpoint.schedules.size(); ++k)
    for (const auto& [key, value] : checkpoint.schedules[k])
      metadata["schedule/" + std::to_string(k) + "/" + key] = format_double(value);
  for (const auto& [name, gen] : checkpoint.generators)
    metadata["rng/" + name] = std::to_string(gen.seed()) + " " + std::to_string(gen.offset());
  for (const auto& [name, value] : checkpoint.scalars) metadata["scalar/" + name] = format_double(value);
  save_safetensors(path, tensors, metadata);
}

Checkpoint load_checkpoint(const std::string& path) {
  Metadata metadata;
  TensorMap tensors = load_safetensors(path, &metadata);
  const auto format = metadata.find("format");
  FOVEA_CHECK(format != metadata.end() && format->second == kFormat, "load_checkpoint", path,
              ": not a fovea checkpoint (metadata 'format' is ",
              format == metadata.end() ? std::string("absent") : "'" + format->second + "'", ", expected '", kFormat,
              "'); read plain tensor files with load_safetensors");
  Checkpoint out;
  out.step = parse_metadata_number<int64_t>(metadata, "step", path);
  out.epoch = parse_metadata_number<int64_t>(metadata, "epoch", path);
  const auto schedule_count = parse_metadata_number<uint32_t>(metadata, "schedules", path);
  FOVEA_CHECK(schedule_count <= 1024, "load_checkpoint", path, ": implausible schedule count ", schedule_count);
  out.schedules.resize(schedule_count);

  std::vector<std::string> unexpected;
  for (auto& [key, t] : tensors) {
    if (starts_with(key, "model/")) out.model[key.substr(6)] = t;
    else if (starts_with(key, "optimizer/")) out.optimizer.tensors[key.substr(10)] = t;
    else if (starts_with(key, "extra/")) out.tensors[key.substr(6)] = t;
    else unexpected.push_back("tensor '" + key + "'");
  }
  for (const auto& [key, text] : metadata) {
    if (key == "format" || key == "step" || key == "epoch" || key == "schedules") continue;
    if (starts_with(key, "optimizer/")) {
      out.optimizer.scalars[key.substr(10)] = parse_metadata_number<double>(metadata, key, path);
    } else if (starts_with(key, "scalar/")) {
      out.scalars[key.substr(7)] = parse_metadata_number<double>(metadata, key, path);
    } else if (starts_with(key, "schedule/")) {
      const size_t slash = key.find('/', 9);
      uint32_t k = 0;
      const char* first = key.data() + 9;
      const char* last = slash == std::string::npos ? first : key.data() + slash;
      const auto [ptr, ec] = std::from_chars(first, last, k);
      if (ec != std::errc() || ptr != last || k >= schedule_count) {
        unexpected.push_back("metadata '" + key + "'");
        continue;
      }
      out.schedules[k][key.substr(slash + 1)] = parse_metadata_number<double>(metadata, key, path);
    } else if (starts_with(key, "rng/")) {
      const size_t space = text.find(' ');
      uint64_t seed = 0, offset = 0;
      const bool ok = space != std::string::npos &&
                      std::from_chars(text.data(), text.data() + space, seed) ==
                          std::from_chars_result{text.data() + space, std::errc()} &&
                      std::from_chars(text.data() + space + 1, text.data() + text.size(), offset) ==
                          std::from_chars_result{text.data() + text.size(), std::errc()};
      FOVEA_CHECK(ok, "load_checkpoint", path, ": metadata entry '", key, "' = '", text,
                  "' is not a generator state '<seed> <offset>'");
      out.generators[key.substr(4)].set_state(seed, offset);
    } else {
      unexpected.push_back("metadata '" + key + "'");
    }
  }
  if (!unexpected.empty()) {
    std::string all;
    for (const std::string& u : unexpected) all += (all.empty() ? "" : ", ") + u;
    FOVEA_FAIL("load_checkpoint", path, ": unexpected entries (", unexpected.size(), "): ", all);
  }
  return out;
}

}  // namespace fovea
