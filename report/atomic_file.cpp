#include "adgraph/report/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "adgraph/autodiff/dtype.h"  // ad::Error

namespace ad::report {
namespace {

namespace fs = std::filesystem;

// Creates a new, empty temporary file next to `target`; returns its path and open descriptor.
std::pair<std::string, int> create_temp(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string stem = target.filename().string();  // built by appending: GCC 12 warns (-Wrestrict) on "." + s
  stem.insert(0, 1, '.');
  stem.append(".tmp-").append(std::to_string(::getpid())).append("-");
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path tmp = dir / (stem + std::to_string(counter++) + target.extension().string());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return {tmp.string(), fd};
    if (errno != EEXIST)
      throw ad::Error("cannot create a temporary file in '" + dir.string() + "' (" + std::strerror(errno) +
                      "); check that the directory exists and is writable");
  }
  throw ad::Error("cannot find a free temporary file name in '" + dir.string() + "'");
}

void write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw ad::Error(std::string("writing failed (") + std::strerror(errno) + ")");
    done += static_cast<std::size_t>(n);
  }
}

void replace(const std::string& path, const std::string& caller,
             const std::function<void(int fd, const std::string& tmp)>& fill) {
  const std::string where = caller + ": cannot write '" + path + "': ";
  const fs::path target(path);
  if (!target.has_filename()) throw ad::Error(where + "the path names a directory, not a file");
  std::string tmp;
  int fd = -1;
  try {
    std::tie(tmp, fd) = create_temp(target);
    fill(fd, tmp);
    // On disk before the rename makes it visible (fsync covers writes through any descriptor).
    if (::fsync(fd) != 0) throw ad::Error(std::string("fsync failed (") + std::strerror(errno) + ")");
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw ad::Error(std::string("closing the temporary file failed (") + std::strerror(errno) + ")");
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw ad::Error("renaming the temporary file over it failed (" + std::string(std::strerror(errno)) + ")");
  } catch (const std::exception& e) {
    if (fd >= 0) ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    throw ad::Error(where + e.what());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

void replace_file(const std::string& path, const std::string& bytes, const std::string& caller) {
  replace(path, caller, [&](int fd, const std::string&) { write_all(fd, bytes); });
}

void replace_file_with(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                       const std::string& caller) {
  replace(path, caller, [&](int, const std::string& tmp) { write(tmp); });
}

}  // namespace ad::report
