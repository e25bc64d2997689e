#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/safetensors.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::testing::contains;
using ad::testing::error_of;

// A fresh directory per test, removed afterwards.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ad_safetensors_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& leaf) const { return (dir_ / leaf).string(); }
  // Every entry of the test directory, to check that no temporary file is left behind.
  std::vector<std::string> listing() const { return ad::testing::dir_entries(dir_); }
  fs::path dir_;
};

using ad::testing::read_bytes;
using ad::testing::write_bytes;

// Rewrites an existing file of the same size in place: much faster than truncating on ext4,
// whose replace-via-truncate heuristic flushes the data on every close.
void overwrite_bytes(const std::string& p, const std::string& bytes) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text (not padded) and data section.
std::string make_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string raw_bytes(const ad::Tensor& t) {
  const auto* p = static_cast<const char*>(t.impl()->storage->data);
  return std::string(p, p + static_cast<std::size_t>(t.numel()) * ad::dtype_size(t.dtype()));
}

void expect_same(const ad::NamedTensors& a, const ad::NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].first);
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype());
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape());
    EXPECT_EQ(raw_bytes(a[i].second), raw_bytes(b[i].second));  // bit for bit, NaN payloads and -0 included
  }
}

ad::NamedTensors sample_tensors() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {"w32", ad::tensor({1.5, -2.25, 0.1, -0.0, inf, nan}, {2, 3}, ad::dtype(ad::kFloat32))},
      {"w64", ad::tensor({0.1, -1e300, 4.9e-324, nan}, {4}, ad::dtype(ad::kFloat64))},
      {"idx",
       ad::index_tensor({0, -1, std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})},
      {"scalar", ad::scalar_tensor(3.25, ad::dtype(ad::kFloat64))},
      {"scalar32", ad::scalar_tensor(-7.0, ad::dtype(ad::kFloat32))},
      {"scalar_i", ad::index_tensor({42}, {})},
      {"mask", ad::tensor({1, 0, 0, 1, 1, 0}, {3, 2}, ad::dtype(ad::kBool))},
      {"empty32", ad::zeros({0}, ad::dtype(ad::kFloat32))},
      {"empty64", ad::zeros({2, 0, 3}, ad::dtype(ad::kFloat64))},
      {"empty_i", ad::index_tensor({}, {0})},
      {"layer.0.weight", ad::ones({3, 1, 2}, ad::dtype(ad::kFloat64).set_requires_grad())},
  };
}

TEST_F(Safetensors, RoundTripAllDtypesScalarsEmptiesAndMetadata) {
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> md{
      {"format", "pt"}, {"note", "caf\xc3\xa9 \"quoted\"\n"}, {"", "empty key"}};
  ad::save_safetensors(path("m.safetensors"), tensors, md);
  const auto f = ad::load_safetensors(path("m.safetensors"));
  expect_same(tensors, f.tensors);
  EXPECT_EQ(f.metadata, md);
  for (const auto& [name, t] : f.tensors) EXPECT_FALSE(t.requires_grad()) << name;
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});  // no temporary file left
}

TEST_F(Safetensors, RoundTripWithoutMetadataOrTensors) {
  ad::save_safetensors(path("none.safetensors"), {});
  EXPECT_EQ(read_bytes(path("none.safetensors")), le64(8) + "{}      ");
  const auto f = ad::load_safetensors(path("none.safetensors"));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());

  ad::save_safetensors(path("one.safetensors"), {{"x", ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64))}});
  EXPECT_FALSE(contains(read_bytes(path("one.safetensors")), "__metadata__"));
  EXPECT_TRUE(ad::load_safetensors(path("one.safetensors")).metadata.empty());
}

// The file laid out by hand from the spec, as safetensors.torch.save_file({"a": torch.tensor([1., 2.])})
// writes it: u64 LE header size, compact JSON padded with spaces to a multiple of 8, raw LE data.
TEST_F(Safetensors, ByteExactTinyFile) {
  ad::save_safetensors(path("a.safetensors"), {{"a", ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat32))}});
  const std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";  // 54 bytes
  const std::string expected = std::string("\x38\0\0\0\0\0\0\0", 8) + json + "  " +      // padded to 56
                               std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);       // 1.0f, 2.0f
  const std::string got = read_bytes(path("a.safetensors"));
  EXPECT_EQ(got.substr(0, 8), expected.substr(0, 8));
  EXPECT_EQ(got.substr(8, 56), json + "  ");
  EXPECT_EQ(got.substr(64), expected.substr(64));
  EXPECT_EQ(got, expected);

  // With PyTorch's state-dict metadata: "__metadata__" comes first.
  ad::save_safetensors(path("b.safetensors"), {{"a", ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat32))}},
                       {{"format", "pt"}});
  const std::string json2 = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(read_bytes(path("b.safetensors")),
            std::string("\x58\0\0\0\0\0\0\0", 8) + json2 + "   " + std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8));

  // And the hand-built bytes load back.
  write_bytes(path("c.safetensors"), expected);
  const auto f = ad::load_safetensors(path("c.safetensors"));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].first, "a");
  EXPECT_EQ(f.tensors[0].second.dtype(), ad::kFloat32);
  EXPECT_EQ(f.tensors[0].second.shape(), ad::Shape{2});
  EXPECT_EQ(f.tensors[0].second.to_vector(), (std::vector<double>{1.0, 2.0}));
}

TEST_F(Safetensors, LayoutIsContiguousInGivenOrder) {
  ad::save_safetensors(path("l.safetensors"), {{"z", ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64))},
                                               {"a", ad::tensor({4.0}, ad::dtype(ad::kFloat32))},
                                               {"e", ad::zeros({0})},
                                               {"m", ad::index_tensor({5, 6})}});
  const std::string bytes = read_bytes(path("l.safetensors"));
  EXPECT_TRUE(contains(bytes, R"("z":{"dtype":"F64","shape":[3],"data_offsets":[0,24]})"));
  EXPECT_TRUE(contains(bytes, R"("a":{"dtype":"F32","shape":[1],"data_offsets":[24,28]})"));
  EXPECT_TRUE(contains(bytes, R"("e":{"dtype":"F32","shape":[0],"data_offsets":[28,28]})"));
  EXPECT_TRUE(contains(bytes, R"("m":{"dtype":"I64","shape":[2],"data_offsets":[28,44]})"));
  const auto f = ad::load_safetensors(path("l.safetensors"));
  ASSERT_EQ(f.tensors.size(), 4u);
  EXPECT_EQ(f.tensors[0].first, "z");
  EXPECT_EQ(f.tensors[3].first, "m");
}

// Files from other writers: keys in any order (the reference writer sorts data by dtype then
// name), unpadded header, extra whitespace. Tensors come back in data order.
TEST_F(Safetensors, LoadsHandWrittenFilesFromOtherWriters) {
  std::string data = le64(7) + le64(static_cast<std::uint64_t>(-3));  // I64 "b" = {7, -3}
  const float f32[] = {0.5f};
  data += std::string(reinterpret_cast<const char*>(f32), 4);  // F32 "a" = {0.5}
  const std::string header = R"({ "a" : {"shape":[1,1], "data_offsets":[16,20], "dtype":"F32"},)"
                             R"( "__metadata__":{"k":"v"}, "b":{"dtype":"I64","data_offsets":[0,16],"shape":[2]} })";
  write_bytes(path("h.safetensors"), make_file(header, data));
  const auto f = ad::load_safetensors(path("h.safetensors"));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "b");
  EXPECT_EQ(f.tensors[0].second.to_vector(), (std::vector<double>{7, -3}));
  EXPECT_EQ(f.tensors[1].first, "a");
  EXPECT_EQ(f.tensors[1].second.shape(), (ad::Shape{1, 1}));
  EXPECT_EQ(f.tensors[1].second.item(), 0.5);
  EXPECT_EQ(f.metadata.at("k"), "v");
}

// ---- every malformed input throws ad::Error naming the file and the problem

struct BadCase {
  const char* what;
  std::string bytes;
  const char* expect;  // part of the message
};

TEST_F(Safetensors, RejectsMalformedFilesWithClearMessages) {
  const std::string d8(8, '\0');
  const std::string t = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::vector<BadCase> cases = {
      {"shorter than 8 bytes", std::string("\x10\0\0", 3), "shorter than the 8-byte header length"},
      {"empty file", "", "0 bytes long"},
      {"header size > file", le64(1000) + t, "only 54 bytes follow"},
      {"absurd header size", le64(std::uint64_t{1} << 63) + t, "limit"},
      {"just over 100 MB", le64(100'000'001) + t, "limit"},
      {"zero header size", le64(0), "not a JSON object"},
      {"json syntax error", make_file(R"({"a":{"dtype":"F32",)", d8), "not valid JSON"},
      {"json trailing garbage", make_file(t + "x", d8), "not valid JSON"},
      {"array header", make_file("[1,2]", ""), "not a JSON object"},
      {"invalid utf-8", make_file("{\"\xff\xfe\":{}}", ""), "not valid JSON"},
      {"too deep", make_file(R"({"a":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]})", ""), "nests more than"},
      {"unknown dtype", make_file(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", d8),
       "unsupported dtype 'I32' (supported: F32, F64, I64, BOOL, F16, BF16)"},
      {"F16 size mismatch", make_file(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", d8),
       "shape [3] of F16 needs 6 bytes but data_offsets [0, 8] hold 8"},
      {"BF16 size mismatch", make_file(R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", d8),
       "shape [2] of BF16 needs 4 bytes"},
      {"bool byte other than 0 or 1",
       make_file(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2)),
       "tensor 'm' is BOOL but its byte 1 is 2 (only 0 and 1 are valid)"},
      {"dtype not string", make_file(R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", d8), "dtype"},
      {"missing dtype", make_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8), "dtype"},
      {"missing shape", make_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8), "shape"},
      {"missing offsets", make_file(R"({"a":{"dtype":"F32","shape":[2]}})", d8), "data_offsets"},
      {"extra field", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", d8),
       "unexpected field 'x'"},
      {"info not object", make_file(R"({"a":[1,2]})", ""), "expected an object"},
      {"negative dim", make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8),
       "non-negative integers"},
      {"fractional dim", make_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8),
       "non-negative integers"},
      {"huge dim", make_file(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", d8),
       "non-negative integers"},
      {"zero hides an impossible shape",
       make_file(R"({"a":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})", ""),
       "more elements than a tensor can hold"},
      {"shape overflow", make_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8),
       "more elements than a tensor can hold"},
      {"shape at the limit",
       make_file(R"({"a":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]}})", d8),
       "needs 9223372036854775808 bytes but data_offsets [0, 8] hold 8"},
      {"shape/offset mismatch", make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8),
       "needs 12 bytes but data_offsets [0, 8] hold 8"},
      {"dtype size mismatch", make_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", d8),
       "needs 16 bytes"},
      {"offsets out of range", make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8),
       "run past the 8-byte data section"},
      {"offsets reversed", make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", d8),
       "end before they begin"},
      {"offsets one number", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", d8), "data_offsets"},
      {"offsets negative", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8), "data_offsets"},
      {"overlap",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 std::string(12, '\0')),
       "overlap"},
      {"same range twice",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                 d8),
       "overlap"},
      {"gap",
       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                 std::string(12, '\0')),
       "gap"},
      {"leading gap", make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8), "gap"},
      {"trailing bytes", make_file(t, d8 + "xyz"), "3 trailing bytes"},
      {"data but no tensors", make_file("{}", d8), "8 trailing bytes"},
      {"duplicate name",
       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 d8),
       "'a' appears more than once"},
      {"empty name", make_file(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8), "empty name"},
      {"metadata not object", make_file(R"({"__metadata__":"pt"})", ""), "__metadata__"},
      {"metadata value not string", make_file(R"({"__metadata__":{"format":1}})", ""), "must be strings"},
  };
  const std::string p = path("bad.safetensors");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    write_bytes(p, c.bytes);
    const std::string msg = error_of([&] { ad::load_safetensors(p); });
    EXPECT_TRUE(contains(msg, p)) << msg;
    EXPECT_TRUE(contains(msg, c.expect)) << msg;
  }
}

TEST_F(Safetensors, MissingFileOrDirectoryThrows) {
  const std::string p = path("nope.safetensors");
  std::string msg = error_of([&] { ad::load_safetensors(p); });
  EXPECT_TRUE(contains(msg, p) && contains(msg, "no such file")) << msg;
  msg = error_of([&] { ad::load_safetensors(dir_.string()); });
  EXPECT_TRUE(contains(msg, dir_.string()) && contains(msg, "it is a directory, not a regular file")) << msg;
}

TEST_F(Safetensors, AFifoIsRefusedWithoutBlocking) {
  // Opening a FIFO that has no writer blocks forever; the loader must refuse it at once.
  const std::string p = path("pipe.safetensors");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  const std::string msg = error_of([&] { ad::load_safetensors(p); });
  EXPECT_TRUE(contains(msg, p) && contains(msg, "it is a FIFO, not a regular file")) << msg;
}

// A small valid file with several dtypes, metadata and an empty tensor.
std::string small_valid_file(const std::string& p) {
  ad::save_safetensors(p,
                       {{"w", ad::tensor({1.0, -2.0, 3.0}, ad::dtype(ad::kFloat32))},
                        {"e", ad::zeros({0, 2})},
                        {"i", ad::index_tensor({4, 5})},
                        {"s", ad::scalar_tensor(0.5, ad::dtype(ad::kFloat64))}},
                       {{"format", "pt"}});
  return read_bytes(p);
}

TEST_F(Safetensors, TruncationAtEveryByteThrows) {
  const std::string bytes = small_valid_file(path("full.safetensors"));
  ASSERT_NO_THROW(ad::load_safetensors(path("full.safetensors")));
  const std::string p = path("cut.safetensors");
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(p, bytes.substr(0, n));
    try {
      ad::load_safetensors(p);
      ADD_FAILURE() << "truncated to " << n << " of " << bytes.size() << " bytes, yet it loaded";
    } catch (const ad::Error& e) {
      EXPECT_TRUE(contains(e.what(), p)) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "truncated to " << n << " bytes: not an ad::Error: " << e.what();
    }
  }
}

// Flipping any bits of any header byte (length field included) gives either an ad::Error or a
// file that still loads; never a crash, another exception type, or (under ASan/UBSan) UB.
TEST_F(Safetensors, CorruptingHeaderBytesThrowsOrLoads) {
  const std::string bytes = small_valid_file(path("full.safetensors"));
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  ASSERT_LT(8 + n, bytes.size());
  const std::string p = path("corrupt.safetensors");
  const unsigned char masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
  const char replacements[] = {'"', '{', '}', '[', ']', ',', ':', '0', '9', '-', ' ', '\\', '\0'};
  int errors = 0, loaded = 0;
  write_bytes(p, bytes);
  auto attempt = [&](const std::string& b, std::size_t pos) {
    overwrite_bytes(p, b);
    try {
      const auto f = ad::load_safetensors(p);
      ++loaded;
      for (const auto& [name, t] : f.tensors) EXPECT_EQ(t.numel() * 0, 0) << name;  // touch the result
    } catch (const ad::Error&) {
      ++errors;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "byte " << pos << ": not an ad::Error: " << e.what();
    }
  };
  for (std::size_t pos = 0; pos < 8 + n; ++pos) {
    for (unsigned char m : masks) {
      std::string b = bytes;
      b[pos] = static_cast<char>(static_cast<unsigned char>(b[pos]) ^ m);
      attempt(b, pos);
    }
    for (char r : replacements) {
      std::string b = bytes;
      if (b[pos] == r) continue;
      b[pos] = r;
      attempt(b, pos);
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(loaded, 0);  // e.g. a changed metadata value or padding byte still loads
}

// ---- saving

TEST_F(Safetensors, SaveRejectsBadNamesAndWritesNothing) {
  const std::string p = path("x.safetensors");
  const auto t = ad::tensor({1.0}, ad::dtype(ad::kFloat64));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(p, {{"a", t}, {"a", t}}); }), "'a' is given twice"));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(p, {{"", t}}); }), "empty name"));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(p, {{"__metadata__", t}}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(p, {{"u", ad::Tensor()}}); }), "'u' is undefined"));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(p, {{"bad\xff", t}}); }), "UTF-8"));
  EXPECT_TRUE(contains(error_of([&] { ad::save_safetensors(dir_.string() + "/", {{"a", t}}); }), "names no file"));
  EXPECT_TRUE(listing().empty());
}

TEST_F(Safetensors, SaveOverwritesAtomically) {
  const std::string p = path("m.safetensors");
  ad::save_safetensors(p, {{"a", ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64))}});
  ad::save_safetensors(p, {{"b", ad::tensor({3.0}, ad::dtype(ad::kFloat64))}}, {{"v", "2"}});
  const auto f = ad::load_safetensors(p);
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].first, "b");
  EXPECT_EQ(f.metadata.at("v"), "2");
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(Safetensors, SaveToDirectoryPathThrowsAndKeepsIt) {
  const std::string p = path("model");
  fs::create_directory(p);
  write_bytes(p + "/inside", "old");
  const std::string msg = error_of([&] {
    ad::save_safetensors(p, {{"a", ad::tensor({1.0}, ad::dtype(ad::kFloat64))}});
  });
  EXPECT_TRUE(contains(msg, p)) << msg;
  EXPECT_TRUE(fs::is_directory(p));
  EXPECT_EQ(read_bytes(p + "/inside"), "old");
  EXPECT_EQ(listing(), std::vector<std::string>{"model"});  // the temporary file is gone
}

// (Keeping the old file when the write itself fails is WriteErrorMidFileThrowsAndKeepsOldFile
// below: a file-size limit binds root too, unlike directory permissions.)
TEST_F(Safetensors, SaveIntoMissingDirectoryThrowsNamingThePath) {
  const std::string p = path("no/such/dir/m.safetensors");
  const std::string msg = error_of([&] {
    ad::save_safetensors(p, {{"a", ad::tensor({1.0}, ad::dtype(ad::kFloat64))}});
  });
  EXPECT_TRUE(contains(msg, p)) << msg;
  EXPECT_TRUE(listing().empty());
}

// A write that fails half way (here: the file size limit, which binds root too) throws, removes
// the temporary file and leaves the old file as it was.
TEST_F(Safetensors, WriteErrorMidFileThrowsAndKeepsOldFile) {
  const std::string p = path("m.safetensors");
  ad::save_safetensors(p, {{"a", ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64))}});
  const std::string old = read_bytes(p);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_TRUE(saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 4096) << "file size hard limit too low to test";
  auto* prev_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    ad::save_safetensors(p, {{"big", ad::zeros({100000}, ad::dtype(ad::kFloat64))}});
  } catch (const ad::Error& e) {
    msg = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, prev_handler);

  EXPECT_TRUE(contains(msg, p)) << msg;
  EXPECT_TRUE(contains(msg, "unchanged")) << msg;
  EXPECT_EQ(read_bytes(p), old);
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(Safetensors, SavesViewsAndTensorsThatRequireGrad) {
  auto w = ad::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, ad::dtype(ad::kFloat64).set_requires_grad());
  auto y = (w * 2.0).reshape({2, 3});
  ad::save_safetensors(path("v.safetensors"), {{"w", w}, {"y", y}});
  const auto f = ad::load_safetensors(path("v.safetensors"));
  EXPECT_EQ(f.tensors[0].second.to_vector(), w.to_vector());
  EXPECT_EQ(f.tensors[1].second.shape(), (ad::Shape{2, 3}));
  EXPECT_EQ(f.tensors[1].second.to_vector(), y.to_vector());
}

// ---- half precision: F16 and BF16

// Little-endian 16-bit values as bytes.
std::string le16s(const std::vector<std::uint16_t>& v) {
  std::string s;
  for (std::uint16_t x : v) {
    s += static_cast<char>(x & 0xff);
    s += static_cast<char>(x >> 8);
  }
  return s;
}

std::vector<std::uint16_t> u16s(const std::string& bytes) {
  std::vector<std::uint16_t> v(bytes.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[2 * i]) |
                                      static_cast<unsigned char>(bytes[2 * i + 1]) << 8);
  return v;
}

// The data section of a file (everything after the header).
std::string data_of(const std::string& file) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(file[i])) << (8 * i);
  return file.substr(8 + n);
}

std::uint32_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }

// Hand-made files: each F16 / BF16 value is read as the Float32 it denotes, bit for bit (the
// sign of zero, subnormals, Inf, NaN), and stored_dtypes tells the file's dtype.
TEST_F(Safetensors, ReadsF16AndBF16AsExactFloat32) {
  const std::vector<std::uint16_t> h = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x8000,
                                        0x0000, 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x8001};
  const std::vector<std::uint16_t> b = {0x3F80, 0xC000, 0x7F7F, 0x0001, 0x0080, 0x8000,
                                        0x7F80, 0xFF80, 0x7FC0, 0x4049, 0x3DCD};
  const std::string header = R"({"h":{"dtype":"F16","shape":[13],"data_offsets":[0,26]},)"
                             R"("b":{"dtype":"BF16","shape":[11],"data_offsets":[26,48]},)"
                             R"("x":{"dtype":"F32","shape":[1],"data_offsets":[48,52]}})";
  const float one = 1.0f;
  write_bytes(path("half.safetensors"),
              make_file(header, le16s(h) + le16s(b) + std::string(reinterpret_cast<const char*>(&one), 4)));
  const auto f = ad::load_safetensors(path("half.safetensors"));
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.stored_dtypes, (std::map<std::string, std::string>{{"h", "F16"}, {"b", "BF16"}, {"x", "F32"}}));
  const ad::Tensor& th = f.tensors[0].second;
  const ad::Tensor& tb = f.tensors[1].second;
  EXPECT_EQ(th.dtype(), ad::kFloat32);
  EXPECT_EQ(tb.dtype(), ad::kFloat32);
  EXPECT_EQ(th.shape(), ad::Shape{13});
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> hv = th.to_vector();
  const std::vector<double> expect_h = {1.0, -2.0, 65504.0, 0x1p-24, 1023 * 0x1p-24, 0x1p-14, -0.0,
                                        0.0, inf,  -inf,    0.0,     0x1.554p-2,     -0x1p-24};
  for (std::size_t i = 0; i < hv.size(); ++i) {
    if (i == 10) continue;  // NaN
    EXPECT_EQ(hv[i], expect_h[i]) << i;
    EXPECT_EQ(std::signbit(hv[i]), std::signbit(expect_h[i])) << i;
  }
  EXPECT_TRUE(std::isnan(hv[10]));
  EXPECT_EQ(float_bits(static_cast<const float*>(th.impl()->storage->data)[10]), 0x7FC00000u);  // quiet NaN
  const std::vector<double> bv = tb.to_vector();
  const std::vector<double> expect_b = {1.0, -2.0, 0x1.FEp127, 0x1p-133, 0x1p-126, -0.0,
                                        inf, -inf, 0.0,        3.140625, 0x1.9Ap-4};
  for (std::size_t i = 0; i < bv.size(); ++i) {
    if (i == 8) continue;
    EXPECT_EQ(bv[i], expect_b[i]) << i;
    EXPECT_EQ(std::signbit(bv[i]), std::signbit(expect_b[i])) << i;
  }
  EXPECT_TRUE(std::isnan(bv[8]));
}

// Every one of the 65536 F16 and BF16 bit patterns: read as Float32 (and widened to Float64),
// then written back as F16 / BF16, gives the same 16 bits; only NaNs become the quiet NaN of
// their sign. (So decoding is exact and encoding rounds every representable value to itself,
// subnormals included.)
TEST_F(Safetensors, EveryHalfBitPatternRoundTrips) {
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  const std::string header = R"({"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]},)"
                             R"("b":{"dtype":"BF16","shape":[256,256],"data_offsets":[131072,262144]}})";
  write_bytes(path("all.safetensors"), make_file(header, le16s(all) + le16s(all)));
  const auto f = ad::load_safetensors(path("all.safetensors"));
  ASSERT_EQ(f.tensors.size(), 2u);
  struct Format {
    ad::FloatFormat format;
    std::uint16_t exponent_mask, quiet_nan;
  };
  const Format formats[2] = {{ad::FloatFormat::F16, 0x7C00, 0x7E00}, {ad::FloatFormat::BF16, 0x7F80, 0x7FC0}};
  for (int k = 0; k < 2; ++k) {
    const Format& fmt = formats[k];
    std::vector<std::uint16_t> expect = all;
    for (std::uint16_t& v : expect)
      if ((v & fmt.exponent_mask) == fmt.exponent_mask && (v & ~fmt.exponent_mask & 0x7FFF) != 0)
        v = static_cast<std::uint16_t>((v & 0x8000) | fmt.quiet_nan);
    for (ad::Dtype d : {ad::kFloat32, ad::kFloat64}) {
      SCOPED_TRACE(std::string(k == 0 ? "F16 " : "BF16 ") + ad::dtype_name(d));
      const ad::Tensor t = f.tensors[static_cast<std::size_t>(k)].second.to(d);
      ad::save_safetensors(path("back.safetensors"), {{"t", t}}, {}, {.floats_as = fmt.format});
      const std::string file = read_bytes(path("back.safetensors"));
      EXPECT_TRUE(contains(file, k == 0 ? R"("dtype":"F16")" : R"("dtype":"BF16")"));
      const std::vector<std::uint16_t> got = u16s(data_of(file));
      ASSERT_EQ(got.size(), expect.size());
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != expect[i] && wrong++ < 5) ADD_FAILURE() << "pattern " << i << " came back as " << got[i];
      EXPECT_EQ(wrong, 0u);
    }
  }
}

// Rounding to nearest, ties to even, from Float32 and from Float64 data, at the edges of each
// format: halfway cases, subnormals, underflow to zero, the largest finite values.
TEST_F(Safetensors, WritesF16AndBF16RoundingToNearestEven) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct Case {
    double x;
    std::uint16_t f16, bf16;
  };
  // Each x is a float, so Float32 and Float64 data give the same bits (checked against an exact
  // rational rounding).
  const std::vector<Case> cases = {
      {1.0, 0x3C00, 0x3F80},
      {-2.0, 0xC000, 0xC000},
      {0.1, 0x2E66, 0x3DCD},
      {3.140625, 0x4248, 0x4049},
      {1 + 0x1p-11, 0x3C00, 0x3F80},            // an F16 tie: down to the even 1.0
      {1 + 3 * 0x1p-11, 0x3C02, 0x3F80},        // an F16 tie: up to the even 0x3C02
      {1 + 0x1p-11 + 0x1p-20, 0x3C01, 0x3F80},  // just above an F16 tie: up
      {1 + 0x1p-8, 0x3C04, 0x3F80},             // a BF16 tie: down to even
      {1 + 3 * 0x1p-8, 0x3C0C, 0x3F82},         // a BF16 tie: up to even
      {1 + 0x1p-8 + 0x1p-20, 0x3C04, 0x3F81},   // just above a BF16 tie: up
      {65504.0, 0x7BFF, 0x4780},                // F16's largest finite
      {65519.0, 0x7BFF, 0x4780},                // below 65520: still down to it
      {0x1p-24, 0x0001, 0x3380},                // F16's smallest subnormal
      {0x1p-25, 0x0000, 0x3300},                // a tie between 0 and it: 0 is even
      {3 * 0x1p-25, 0x0002, 0x33C0},            // a tie between 0x0001 and 0x0002: even
      {0x1p-25 + 0x1p-40, 0x0001, 0x3300},      // above the tie with 0: up
      {0x1p-14 - 0x1p-25, 0x0400, 0x3880},      // a tie between the largest subnormal and 2^-14
      {1e-10, 0x0000, 0x2EDC},                  // F16: underflow to zero...
      {-1e-10, 0x8000, 0xAEDC},                 // ...keeping the sign
      {-0.0, 0x8000, 0x8000},
      {0x1.FEp127, 0x7C00, 0x7F7F},  // BF16's largest finite (F16: overflow, allowed here)
      {0x1p-133, 0x0000, 0x0001},    // BF16's smallest subnormal
      {0x1p-134, 0x0000, 0x0000},    // a tie with 0: even
      {3 * 0x1p-134, 0x0000, 0x0002},
      {inf, 0x7C00, 0x7F80},
      {-inf, 0xFC00, 0xFF80},
      {nan, 0x7E00, 0x7FC0},
      {-nan, 0xFE00, 0xFFC0},
  };
  std::vector<double> xs;
  for (const Case& c : cases) xs.push_back(c.x);
  for (ad::Dtype d : {ad::kFloat32, ad::kFloat64}) {
    SCOPED_TRACE(ad::dtype_name(d));
    const ad::Tensor t = ad::tensor(xs, ad::dtype(d));
    for (int k = 0; k < 2; ++k) {
      ad::save_safetensors(
          path("r.safetensors"), {{"t", t}}, {},
          {.floats_as = k == 0 ? ad::FloatFormat::F16 : ad::FloatFormat::BF16, .allow_overflow = true});
      const std::vector<std::uint16_t> got = u16s(data_of(read_bytes(path("r.safetensors"))));
      ASSERT_EQ(got.size(), cases.size());
      for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], k == 0 ? cases[i].f16 : cases[i].bf16)
            << (k == 0 ? "F16" : "BF16") << " of case " << i << " (" << cases[i].x << ")";
    }
  }
  // No double rounding: 1 + 2^-11 + 2^-40 is just above the F16 tie in Float64 and rounds up,
  // but a Float32 copy of it is the tie itself, which rounds to even.
  const double above_tie = 1 + 0x1p-11 + 0x1p-40;
  ad::save_safetensors(path("d.safetensors"),
                       {{"f64", ad::tensor({above_tie}, ad::dtype(ad::kFloat64))},
                        {"f32", ad::tensor({above_tie}, ad::dtype(ad::kFloat32))}},
                       {}, {.floats_as = ad::FloatFormat::F16});
  EXPECT_EQ(u16s(data_of(read_bytes(path("d.safetensors")))), (std::vector<std::uint16_t>{0x3C01, 0x3C00}));
}

// Every dtype, scalars, empties and views saved with floats_as: the floating tensors come back as
// Float32 of the same shapes holding the rounded values, the others bit for bit.
TEST_F(Safetensors, HalfFormatsKeepShapesAndLeaveIntegersAlone) {
  const auto tensors = sample_tensors();
  for (ad::FloatFormat format : {ad::FloatFormat::F16, ad::FloatFormat::BF16}) {
    const std::string name = format == ad::FloatFormat::F16 ? "F16" : "BF16";
    SCOPED_TRACE(name);
    ad::save_safetensors(path("s.safetensors"), tensors, {{"format", "pt"}},
                         {.floats_as = format, .allow_overflow = true});  // w64 holds -1e300
    const auto f = ad::load_safetensors(path("s.safetensors"));
    ASSERT_EQ(f.tensors.size(), tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& [n, t] = tensors[i];
      const ad::Tensor& back = f.tensors[i].second;
      EXPECT_EQ(f.tensors[i].first, n);
      EXPECT_EQ(back.shape(), t.shape()) << n;
      if (!ad::is_floating(t.dtype())) {
        EXPECT_EQ(f.stored_dtypes.at(n), t.dtype() == ad::kInt64 ? "I64" : "BOOL");
        EXPECT_EQ(raw_bytes(back), raw_bytes(t)) << n;
        continue;
      }
      EXPECT_EQ(f.stored_dtypes.at(n), name) << n;
      EXPECT_EQ(back.dtype(), ad::kFloat32) << n;
      const std::vector<double> a = t.to_vector(), b = back.to_vector();
      const double rel = format == ad::FloatFormat::F16 ? 0x1p-11 : 0x1p-8;
      for (std::size_t j = 0; j < a.size(); ++j) {
        if (std::isnan(a[j])) {
          EXPECT_TRUE(std::isnan(b[j])) << n << " " << j;
        } else if (std::abs(a[j]) > 1e38 || std::abs(a[j]) < 1e-30) {  // past the range or below it
          EXPECT_TRUE(std::isinf(b[j]) || b[j] == 0.0 || std::abs(b[j] - a[j]) <= rel * std::abs(a[j])) << n << j;
        } else {
          EXPECT_LE(std::abs(b[j] - a[j]), rel * std::abs(a[j]) + 0x1p-24) << n << " " << j;
        }
      }
    }
  }
  const ad::Tensor x = ad::tensor({1, 2, 3, 4, 5, 6}, {2, 3}, {});
  ad::save_safetensors(path("v.safetensors"), {{"t", x.t()}}, {}, {.floats_as = ad::FloatFormat::F16});
  EXPECT_EQ(ad::load_safetensors(path("v.safetensors")).tensors[0].second.to_vector(), x.t().contiguous().to_vector());
}

// A finite value that would round to Inf is refused by default, naming the tensor, the element,
// the value and the format, and nothing is written; allow_overflow stores Inf as IEEE says.
// Int64 and Bool tensors are stored as themselves whatever floats_as says.
TEST_F(Safetensors, HalfOverflowIsAnErrorUnlessAllowed) {
  const std::string p = path("o.safetensors");
  ad::save_safetensors(p, {{"old", ad::tensor({1.0}, ad::dtype(ad::kFloat64))}});
  const std::string old = read_bytes(p);
  const ad::NamedTensors big = {{"ok", ad::tensor({65519.0, -65519.0})},
                                {"w", ad::tensor({1.0, -65520.0, 70000.0}, ad::dtype(ad::kFloat64))}};
  std::string msg = error_of([&] { ad::save_safetensors(p, big, {}, {.floats_as = ad::FloatFormat::F16}); });
  for (const char* part :
       {"tensor 'w' element 1 is -65520", "F16's largest finite value 65504", "Inf", "allow_overflow"})
    EXPECT_TRUE(contains(msg, part)) << "missing '" << part << "' in: " << msg;
  EXPECT_TRUE(contains(msg, p)) << msg;
  EXPECT_EQ(read_bytes(p), old);
  EXPECT_EQ(listing(), std::vector<std::string>{"o.safetensors"});

  ad::save_safetensors(p, big, {}, {.floats_as = ad::FloatFormat::F16, .allow_overflow = true});
  EXPECT_EQ(u16s(data_of(read_bytes(p))), (std::vector<std::uint16_t>{0x7BFF, 0xFBFF, 0x3C00, 0xFC00, 0x7C00}));
  const auto back = ad::load_safetensors(p);
  EXPECT_EQ(back.tensors[1].second.to_vector(), (std::vector<double>{1.0, -std::numeric_limits<double>::infinity(),
                                                                     std::numeric_limits<double>::infinity()}));

  const ad::NamedTensors huge = {{"m", ad::tensor({std::numeric_limits<float>::max()})}};
  msg = error_of([&] { ad::save_safetensors(p, huge, {}, {.floats_as = ad::FloatFormat::BF16}); });
  EXPECT_TRUE(contains(msg, "tensor 'm' element 0 is 3.40282347e+38, past BF16's largest finite value 3.3895314e+38"))
      << msg;
  ad::save_safetensors(p, huge, {}, {.floats_as = ad::FloatFormat::BF16, .allow_overflow = true});
  EXPECT_EQ(u16s(data_of(read_bytes(p))), (std::vector<std::uint16_t>{0x7F80}));

  // Inf and NaN inputs are not an overflow; integers and masks keep their dtype.
  ad::save_safetensors(p,
                       {{"inf", ad::tensor({std::numeric_limits<double>::infinity()})},
                        {"i", ad::index_tensor({70000})},
                        {"m", ad::tensor({1, 0}, ad::dtype(ad::kBool))}},
                       {}, {.floats_as = ad::FloatFormat::F16});
  const auto mixed = ad::load_safetensors(p);
  EXPECT_EQ(mixed.stored_dtypes, (std::map<std::string, std::string>{{"inf", "F16"}, {"i", "I64"}, {"m", "BOOL"}}));
  EXPECT_EQ(mixed.tensors[1].second.item<std::int64_t>(), 70000);
  EXPECT_EQ(mixed.tensors[2].second.dtype(), ad::kBool);
}

}  // namespace
