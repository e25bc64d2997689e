#include "adgraph/autodiff/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
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
constexpr const char* kSupported = "F32, F64, I64, BOOL, F16, BF16";

// ---------------------------------------------------------------- half precision

// A 16-bit binary floating-point format: 1 sign bit, 15 - mbits exponent bits, mbits fraction bits.
struct HalfFormat {
  const char* name;
  int mbits;           // fraction bits
  int bias;            // exponent bias
  double overflow_at;  // the smallest magnitude that rounds to Inf (max finite + half its ulp)
  double max_finite;   // for messages
  std::uint16_t qnan;  // the quiet NaN written for any NaN (sign added)
  std::uint16_t inf() const { return static_cast<std::uint16_t>(((1u << (15 - mbits)) - 1) << mbits); }
};
constexpr HalfFormat kF16{"F16", 10, 15, 65520.0, 65504.0, 0x7E00};
constexpr HalfFormat kBF16{"BF16", 7, 127, 0x1.FFp127, 0x1.FEp127, 0x7FC0};

// x rounded to the nearest value of the format, ties to even, straight from double (a float is
// a double exactly, so Float32 data rounds once too). Magnitudes past max_finite round to Inf.
std::uint16_t encode_half(double x, const HalfFormat& f) {
  const auto b = std::bit_cast<std::uint64_t>(x);
  const auto sign = static_cast<std::uint16_t>((b >> 63) << 15);
  const std::uint64_t exp_field = (b >> 52) & 0x7FF, frac = b & ((std::uint64_t{1} << 52) - 1);
  if (exp_field == 0x7FF) return static_cast<std::uint16_t>(sign | (frac != 0 ? f.qnan : f.inf()));
  if (exp_field == 0) return sign;  // zero, or a double subnormal: far below half the smallest subnormal
  const int e = static_cast<int>(exp_field) - 1023;  // x = sig * 2^(e - 52), sig in [2^52, 2^53)
  const std::uint64_t sig = frac | (std::uint64_t{1} << 52);
  const int emin = 1 - f.bias;  // the exponent of the smallest normal; below it the quantum stays 2^(emin - mbits)
  const int shift = 52 - f.mbits + std::max(emin - e, 0);  // the bits of sig below the quantum
  if (shift >= 54) return sign;                            // x < half the smallest subnormal (strictly: sig < 2^53)
  std::uint64_t r = sig >> shift;
  const std::uint64_t rest = sig & ((std::uint64_t{1} << shift) - 1), half = std::uint64_t{1} << (shift - 1);
  if (rest > half || (rest == half && (r & 1) != 0)) ++r;  // to nearest, ties to even
  // Normal: the exponent field above r's implicit bit (a carry out of the fraction moves the
  // exponent up by itself); subnormal: r alone (r = 2^mbits is the smallest normal, also right).
  std::uint64_t bits = e >= emin ? (static_cast<std::uint64_t>(e + f.bias - 1) << f.mbits) + r : r;
  if (bits >= f.inf()) bits = f.inf();
  return static_cast<std::uint16_t>(sign | bits);
}

// Exact: every F16 and BF16 value is a float (NaN payloads kept in the float's top fraction bits).
float decode_half(std::uint16_t h, const HalfFormat& f) {
  if (f.mbits == kBF16.mbits) return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (frac << 13));  // Inf, NaN
  if (exp == 0) {                                                                   // zero, subnormal: frac * 2^-24
    const float mag = std::ldexp(static_cast<float>(frac), -24);
    return sign != 0 ? -mag : mag;
  }
  return std::bit_cast<float>(sign | ((exp + 127 - 15) << 23) | (frac << 13));
}

const HalfFormat* half_format(FloatFormat f) {
  switch (f) {
    case FloatFormat::F16:
      return &kF16;
    case FloatFormat::BF16:
      return &kBF16;
    case FloatFormat::Native:
      break;
  }
  return nullptr;
}

// The format a tensor is stored in: a half format for floating tensors when asked, else none.
const HalfFormat* stored_half(const Tensor& t, const SafetensorsSaveOptions& opt) {
  return is_floating(t.dtype()) ? half_format(opt.floats_as) : nullptr;
}

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

// The engine dtype a file dtype is read as, and its half format (F16 and BF16 are read as Float32).
bool parse_st_dtype(const std::string& s, Dtype& out, const HalfFormat*& half) {
  half = nullptr;
  if (s == "F16" || s == "BF16") {
    out = kFloat32;
    half = s == "F16" ? &kF16 : &kBF16;
  } else if (s == "F32") {
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
                         const std::map<std::string, std::string>& metadata, const SafetensorsSaveOptions& opt) {
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
    const HalfFormat* half = stored_half(t, opt);
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * (half ? 2 : dtype_size(t.dtype()));
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = half ? half->name : st_dtype(t.dtype());
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
  const HalfFormat* half = nullptr;  // F16 / BF16 data, read as Float32
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata, const SafetensorsSaveOptions& opt) {
  auto fail = [&](const std::string& what) { return Error("save_safetensors('" + path + "'): " + what); };
  const fs::path target(path);
  if (path.empty() || !target.has_filename()) throw fail("the path names no file");

  const std::string header = build_header(path, tensors, metadata, opt);

  // Floating tensors stored in a half format, contiguous, checked for overflow before anything
  // is written.
  std::vector<Tensor> halves(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    const HalfFormat* half = stored_half(t, opt);
    if (!half) continue;
    halves[i] = t.detach().contiguous();
    if (opt.allow_overflow) continue;
    dispatch_float(t.dtype(), "save_safetensors", [&]<class T>() {
      const T* p = halves[i].data_ptr<T>();
      for (std::int64_t k = 0; k < halves[i].numel(); ++k) {
        const double v = static_cast<double>(p[k]);
        if (std::isfinite(v) && std::abs(v) >= half->overflow_at) {
          char value[32], max[32];
          std::snprintf(value, sizeof value, "%.9g", v);
          std::snprintf(max, sizeof max, "%.8g", half->max_finite);
          throw fail("tensor '" + tensors[i].first + "' element " + std::to_string(k) + " is " + value + ", past " +
                     half->name + "'s largest finite value " + max +
                     ": it would be stored as Inf. Scale the tensor, keep it in its own dtype "
                     "(FloatFormat::Native), or pass allow_overflow = true to store Inf as IEEE 754 does");
        }
      }
    });
  }

  replace_file_with(
      path,
      [&](int fd) {
        Writer w(fd);
        unsigned char len[8];
        const std::uint64_t n = header.size();
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
        w.append(len, 8);
        w.append(header.data(), header.size());
        for (std::size_t i = 0; i < tensors.size(); ++i) {
          const Tensor& t = tensors[i].second;
          if (const HalfFormat* half = stored_half(t, opt)) {  // converted a chunk at a time
            dispatch_float(t.dtype(), "save_safetensors", [&]<class T>() {
              const T* p = halves[i].data_ptr<T>();
              std::uint16_t chunk[4096];
              for (std::int64_t k = 0; k < halves[i].numel();) {
                const std::int64_t m = std::min<std::int64_t>(halves[i].numel() - k, 4096);
                for (std::int64_t j = 0; j < m; ++j) chunk[j] = encode_half(static_cast<double>(p[k + j]), *half);
                w.append(chunk, static_cast<std::size_t>(m) * 2);
                k += m;
              }
            });
            continue;
          }
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
    if (!parse_st_dtype(dt->get<std::string>(), e.dtype, e.half))
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
    const std::uint64_t bytes = static_cast<std::uint64_t>(numel) * (e.half ? 2 : dtype_size(e.dtype));  // <= 2^63
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
    out.stored_dtypes[e.name] = e.half ? e.half->name : st_dtype(e.dtype);
    if (e.half) {  // 2-byte values, widened to Float32 in place from the back of the buffer
      auto* f = static_cast<float*>(t.impl()->storage->data);
      auto* h = reinterpret_cast<unsigned char*>(f);
      if (auto err = read_exact(fd.fd, h, e.end - e.begin, 8 + n + e.begin); !err.empty())
        throw fail("cannot read the data of tensor '" + e.name + "': " + err);
      for (std::uint64_t i = (e.end - e.begin) / 2; i-- > 0;) {
        std::uint16_t v;
        std::memcpy(&v, h + 2 * i, 2);
        f[i] = decode_half(v, *e.half);
      }
      out.tensors.emplace_back(e.name, std::move(t));
      continue;
    }
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
