#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

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
      {"unknown dtype", make_file(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", d8),
       "unsupported dtype 'F16' (supported: F32, F64, I64, BOOL)"},
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

}  // namespace
