#include "adgraph/autodiff/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "adgraph/autodiff/file.h"

namespace ad {

// Tensor data is copied to and from the file byte for byte; the format is little-endian.
static_assert(std::endian::native == std::endian::little,
              "safetensors.cpp copies raw tensor bytes and assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // the reference implementation's limit
constexpr int kMaxJsonDepth = 8;                       // a valid header nests 3 levels deep
constexpr const char* kSupported = "F32, F64, I64, BOOL";

const char* st_dtype(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return "F32";
    case Dtype::Float64:
      return "F64";
    case Dtype::Int64:
      return "I64";
    case Dtype::Bool:
      return "BOOL";
  }
  throw Error("save_safetensors: unknown dtype");
}

bool parse_st_dtype(const std::string& s, Dtype& out) {
  if (s == "F32") {
    out = kFloat32;
  } else if (s == "F64") {
    out = kFloat64;
  } else if (s == "I64") {
    out = kInt64;
  } else if (s == "BOOL") {
    out = kBool;
  } else {
    return false;
  }
  return true;
}

std::string errno_str(int err) { return std::strerror(err); }

// Closes a POSIX file descriptor on scope exit unless released.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() { return std::exchange(fd, -1); }
};

// ---------------------------------------------------------------- writing

// Buffers the many small writes of small tensors; large tensors go to the file directly.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) { buf_.reserve(kBuf); }
  void append(const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    if (buf_.size() + n > kBuf) flush();
    if (n >= kBuf) {
      write_all(fd_, std::string_view(c, n));
    } else {
      buf_.insert(buf_.end(), c, c + n);
    }
  }
  void flush() {
    write_all(fd_, std::string_view(buf_.data(), buf_.size()));
    buf_.clear();
  }

 private:
  static constexpr std::size_t kBuf = 1 << 20;
  int fd_;
  std::vector<char> buf_;
};

std::string build_header(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& what) { return Error("save_safetensors('" + path + "'): " + what); };
  // Key order as the reference writer emits it: "__metadata__" first, then the tensors in data
  // order, each as {"dtype", "shape", "data_offsets"}.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = std::move(md);
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) throw fail("a tensor has an empty name; every tensor needs a non-empty, unique name");
    if (name == "__metadata__") throw fail("'__metadata__' is reserved for the metadata map and cannot name a tensor");
    if (!seen.insert(name).second) throw fail("the name '" + name + "' is given twice; tensor names must be unique");
    if (!t.defined()) throw fail("the tensor '" + name + "' is undefined");
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype());
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = st_dtype(t.dtype());
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (auto d : t.shape()) shape.push_back(static_cast<std::uint64_t>(d));
    info["shape"] = std::move(shape);
    info["data_offsets"] = {offset, offset + bytes};
    offset += bytes;
    header[name] = std::move(info);
  }
  std::string text;
  try {
    text = header.dump();  // compact, raw UTF-8, like serde_json::to_string
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("a tensor name or metadata string is not valid UTF-8 (") + e.what() + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad to a multiple of 8, as the reference does
  return text;
}

// ---------------------------------------------------------------- reading

// Rejects JSON nested deeper than kMaxJsonDepth before it reaches the parser; a valid header
// nests 3 levels and this keeps hostile inputs from building huge recursive documents.
bool nesting_ok(const std::string& s) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// Reads n bytes at `offset`; returns "" or what went wrong.
std::string read_exact(int fd, void* dst, std::uint64_t n, std::uint64_t offset) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, std::uint64_t{1} << 30));
    const ssize_t r = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (r < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return errno_str(err);
    }
    if (r == 0) return "the file ended early (was it modified while loading?)";
    p += r;
    n -= static_cast<std::uint64_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return {};
}

struct Entry {
  std::string name;
  std::size_t header_index = 0;  // position among the header's keys
  Dtype dtype = kFloat32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& what) { return Error("save_safetensors('" + path + "'): " + what); };
  const fs::path target(path);
  if (path.empty() || !target.has_filename()) throw fail("the path names no file");

  const std::string header = build_header(path, tensors, metadata);

  replace_file_with(
      path,
      [&](int fd) {
        Writer w(fd);
        unsigned char len[8];
        const std::uint64_t n = header.size();
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
        w.append(len, 8);
        w.append(header.data(), header.size());
        for (const auto& [name, t] : tensors) {
          const Tensor c = t.detach().contiguous();  // a view is written as its elements, row-major
          w.append(static_cast<const char*>(c.impl()->storage->data) + c.storage_offset() * dtype_size(c.dtype()),
                   static_cast<std::size_t>(c.numel()) * dtype_size(c.dtype()));
        }
        w.flush();
      },
      "save_safetensors");
}

SafetensorsFile load_safetensors(const std::string& path) {
  auto fail = [&](const std::string& what) { return Error("load_safetensors('" + path + "'): " + what); };

  Fd fd(open_regular_file(path, "load_safetensors"));  // never blocks on a FIFO
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) {
    const int err = errno;
    throw fail("cannot stat the file: " + errno_str(err));
  }
  const std::uint64_t file_size = static_cast<std::uint64_t>(st.st_size);

  // ---- header length
  if (file_size < 8)
    throw fail("the file is " + std::to_string(file_size) +
               " bytes long, shorter than the 8-byte header length that starts a safetensors file "
               "(truncated, or not a safetensors file)");
  unsigned char len[8];
  if (auto err = read_exact(fd.fd, len, 8, 0); !err.empty()) throw fail("cannot read the header length: " + err);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  if (n > kMaxHeaderSize)
    throw fail("the header length field says " + std::to_string(n) + " bytes, more than the " +
               std::to_string(kMaxHeaderSize) + "-byte limit (corrupt, or not a safetensors file)");
  if (n > file_size - 8)
    throw fail("the header length field says " + std::to_string(n) + " bytes but only " +
               std::to_string(file_size - 8) + " bytes follow it (the file is truncated or corrupt)");
  const std::uint64_t data_size = file_size - 8 - n;

  // ---- header JSON
  std::string text(static_cast<std::size_t>(n), '\0');
  if (auto err = read_exact(fd.fd, text.data(), n, 8); !err.empty()) throw fail("cannot read the header: " + err);
  if (text.empty() || text[0] != '{')
    throw fail("the header is not a JSON object (it must start with '{'); the file is corrupt or not safetensors");
  if (!nesting_ok(text))
    throw fail("the header JSON nests more than " + std::to_string(kMaxJsonDepth) +
               " levels deep; a safetensors header nests 3");

  // The callback sees every top-level key in file order, including duplicates that the parsed
  // object would silently merge.
  std::unordered_map<std::string, std::size_t> key_index;
  std::string duplicate;
  json header;
  try {
    header = json::parse(text, [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1) {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!key_index.emplace(k, key_index.size()).second && duplicate.empty()) duplicate = k;
      }
      return true;
    });
  } catch (const json::exception& e) {
    throw fail(std::string("the header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("the header is not a JSON object");
  if (!duplicate.empty()) throw fail("the tensor name '" + duplicate + "' appears more than once in the header");

  SafetensorsFile out;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw fail("'__metadata__' must be an object mapping strings to strings");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string())
          throw fail("'__metadata__' entry '" + k + "' is a " + v.type_name() + "; metadata values must be strings");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (name.empty()) throw fail("the header has a tensor with an empty name; tensor names must be non-empty");
    const std::string where = "tensor '" + name + "'";
    if (!info.is_object())
      throw fail(where + ": expected an object {\"dtype\", \"shape\", \"data_offsets\"}, found a " + info.type_name());
    for (const auto& [field, value] : info.items()) {
      (void)value;
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        throw fail(where + ": unexpected field '" + field + "' (expected dtype, shape, data_offsets)");
    }
    Entry e;
    e.name = name;
    e.header_index = key_index.at(name);

    const auto dt = info.find("dtype");
    if (dt == info.end() || !dt->is_string()) throw fail(where + ": missing or non-string \"dtype\"");
    if (!parse_st_dtype(dt->get<std::string>(), e.dtype))
      throw fail(where + ": unsupported dtype '" + dt->get<std::string>() + "' (supported: " + kSupported + ")");

    const auto sh = info.find("shape");
    if (sh == info.end() || !sh->is_array()) throw fail(where + ": missing or non-array \"shape\"");
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned() ||
          d.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw fail(where + ": \"shape\" must hold non-negative integers, found " + d.dump());
      e.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }

    const auto off = info.find("data_offsets");
    if (off == info.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      throw fail(where + ": \"data_offsets\" must be [begin, end] with non-negative integers");
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    std::string offsets(1, '[');  // appended piece by piece: GCC 12's -Wrestrict misfires on "[" + ...
    offsets.append(std::to_string(e.begin)).append(", ").append(std::to_string(e.end)).append("]");
    if (e.begin > e.end) throw fail(where + ": data_offsets " + offsets + " end before they begin");
    if (e.end > data_size)
      throw fail(where + ": data_offsets " + offsets + " run past the " + std::to_string(data_size) +
                 "-byte data section (the file is truncated or corrupt)");

    // checked_numel: also refuses sizes a 0 hides (their reductions and views would overflow).
    std::int64_t numel = 0;
    try {
      numel = checked_numel(e.shape, "load_safetensors");
    } catch (const Error&) {
      throw fail(where + ": shape " + shape_str(e.shape) + " has more elements than a tensor can hold (2^60)");
    }
    const std::uint64_t bytes = static_cast<std::uint64_t>(numel) * dtype_size(e.dtype);  // <= 2^63
    if (bytes != e.end - e.begin)
      throw fail(where + ": shape " + shape_str(e.shape) + " of " + dt->get<std::string>() + " needs " +
                 std::to_string(bytes) + " bytes but data_offsets " + offsets + " hold " +
                 std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }

  // ---- the tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.header_index) < std::tie(b.begin, b.end, b.header_index);
  });
  std::uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const auto& e : entries) {
    if (e.begin < pos)
      throw fail("tensors '" + prev->name + "' and '" + e.name + "' overlap in the data section (byte " +
                 std::to_string(e.begin) + " is claimed by both)");
    if (e.begin > pos)
      throw fail("bytes " + std::to_string(pos) + ".." + std::to_string(e.begin) + " of the data section, before '" +
                 e.name + "', belong to no tensor (gap in data_offsets)");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    throw fail(std::to_string(data_size - pos) + " trailing bytes after the last tensor's data (the data section is " +
               std::to_string(data_size) + " bytes, the tensors use " + std::to_string(pos) + ")");

  // ---- data; everything allocated here is bounded by the file's size.
  out.tensors.reserve(entries.size());
  for (const auto& e : entries) {
    Tensor t = empty(e.shape, dtype(e.dtype));
    if (auto err = read_exact(fd.fd, t.impl()->storage->data, e.end - e.begin, 8 + n + e.begin); !err.empty())
      throw fail("cannot read the data of tensor '" + e.name + "': " + err);
    if (e.dtype == kBool) {  // a C++ bool must be 0 or 1: any other byte is a corrupt file
      const auto* b = static_cast<const unsigned char*>(t.impl()->storage->data);
      for (std::uint64_t i = 0; i < e.end - e.begin; ++i)
        if (b[i] > 1)
          throw fail("tensor '" + e.name + "' is BOOL but its byte " + std::to_string(i) + " is " +
                     std::to_string(b[i]) + " (only 0 and 1 are valid)");
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace ad
