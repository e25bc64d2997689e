#include "adgraph/autodiff/file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <utility>

#include "adgraph/autodiff/dtype.h"  // ad::Error

namespace ad {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int err) { return std::strerror(err); }

// A new, empty temporary file next to `target`: its path and open descriptor.
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
      throw Error("cannot create a temporary file in '" + dir.string() + "' (" + errno_text(errno) +
                  "); check that the directory exists and is writable");
  }
  throw Error("cannot find a free temporary file name in '" + dir.string() + "'");
}

// Removes the temporary files of `target` that a writer killed mid-write left behind: names
// ".<name>.tmp-<pid>-<n>..." whose process no longer exists. Files of live processes (another
// save of the same target running now, in this process or another) are left alone.
void remove_stale_temps(const fs::path& target) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string prefix = target.filename().string();  // by appending: GCC 12 warns (-Wrestrict) on "." + s
  prefix.insert(0, 1, '.');
  prefix.append(".tmp-");
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::size_t dash = name.find('-', prefix.size());
    if (dash == std::string::npos || dash == prefix.size()) continue;
    long pid = 0;
    for (std::size_t i = prefix.size(); i < dash; ++i) {
      if (name[i] < '0' || name[i] > '9' || pid > 100000000) {
        pid = 0;
        break;
      }
      pid = pid * 10 + (name[i] - '0');
    }
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code remove_ec;
      fs::remove(it->path(), remove_ec);  // best effort: a temp we cannot remove does no harm
    }
  }
}

}  // namespace

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("write failed (" + errno_text(n < 0 ? errno : EIO) + ")");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void replace_file_with(const std::string& path, const std::function<void(int fd)>& write, const std::string& caller) {
  const auto fail = [&](const std::string& why) {
    return Error(caller + ": cannot write '" + path + "': " + why + "; the existing file, if any, is unchanged");
  };
  const fs::path target(path);
  if (path.empty() || !target.has_filename()) throw fail("the path names no file");
  std::string tmp;
  int fd = -1;
  const auto clean_up = [&] {
    if (fd >= 0) ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
  };
  remove_stale_temps(target);
  try {
    std::tie(tmp, fd) = create_temp(target);
    write(fd);
    // On disk before the rename makes it visible.
    if (::fsync(fd) != 0) throw Error("flushing the temporary file to disk failed (" + errno_text(errno) + ")");
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw Error("closing the temporary file failed (" + errno_text(errno) + ")");
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error("renaming the temporary file over it failed (" + errno_text(errno) + ")");
  } catch (const std::exception& e) {
    clean_up();
    throw fail(e.what());
  } catch (...) {
    clean_up();
    throw;
  }
  // Persist the rename itself; best effort, the data is already safe in the new file.
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void replace_file(const std::string& path, std::string_view bytes, const std::string& caller) {
  replace_file_with(
      path, [&](int fd) { write_all(fd, bytes); }, caller);
}

namespace {
const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a plain file";
}
}  // namespace

int open_regular_file(const std::string& path, const std::string& caller) {
  auto fail = [&](const std::string& why) { return Error(caller + ": cannot read '" + path + "': " + why); };
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. It is cleared below;
  // it means nothing for regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    throw fail(err == ENOENT ? std::string("no such file") : errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    const bool stat_failed = !S_ISREG(st.st_mode) && st.st_mode == 0;
    ::close(fd);
    throw fail(stat_failed ? "cannot stat it (" + errno_text(err) + ")"
                           : std::string("it is ") + file_kind(st.st_mode) + ", not a regular file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_file(const std::string& path, const std::string& caller) {
  const int fd = open_regular_file(path, caller);
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(caller + ": cannot read '" + path + "': " + errno_text(err));
    }
    if (r == 0) break;
    bytes.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return bytes;
}

}  // namespace ad
