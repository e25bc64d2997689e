#pragma once
// Replacing a file atomically: readers of `path` see the old file or the complete new one, never a
// half-written one, and a failure leaves the old file as it was. Every file the project writes
// (safetensors, DOT, pictures, CSV histories) goes through here:
//
//   ad::replace_file("out/summary.json", text, "my_tool::save");
//   ad::replace_file_with("out/big.bin", [&](int fd) { /* write(fd, ...) in pieces */ }, "my_tool::save");
#include <functional>
#include <string>
#include <string_view>

namespace ad {

// Writes `bytes` to a new temporary file next to `path` (same directory, so the rename is atomic:
// ".<name>.tmp-<pid>-<n><extension>", mode 0666 & ~umask), flushes it to disk (fsync), renames
// it over `path` and syncs the directory. Throws ad::Error
//   "<caller>: cannot write '<path>': <why>; the existing file, if any, is unchanged"
// when the temporary file cannot be created or written (e.g. the directory does not exist, the
// disk is full) or the rename fails (e.g. `path` is a directory); the temporary file is removed.
// Temporary files of `path` left by a writer that was killed mid-write (their process is gone)
// are removed first, so a crash never leaves them behind for good.
void replace_file(const std::string& path, std::string_view bytes, const std::string& caller);

// The same for a writer that writes in pieces: write(fd) fills the temporary file through `fd`
// (open for writing, positioned at 0; do not close it). An exception from `write` is reported
// the same way (a std::exception's what() becomes <why>; any other is rethrown after the clean-up).
void replace_file_with(const std::string& path, const std::function<void(int fd)>& write, const std::string& caller);

// Opens `path` for reading and returns the descriptor (close it with ::close). Refuses, without
// blocking, anything but a regular file: a FIFO would block the open (or the read) forever, a
// directory or a device is never a data file. Throws ad::Error
//   "<caller>: cannot read '<path>': <why>"
// with <why> "no such file", "it is a FIFO, not a regular file", "permission denied", ...
int open_regular_file(const std::string& path, const std::string& caller);

// The whole contents of a regular file (open_regular_file, then read to the end).
std::string read_file(const std::string& path, const std::string& caller);

// write(2) until all of `bytes` is written (retrying on EINTR); throws ad::Error "write failed
// (<errno text>)" otherwise. For writers passed to replace_file_with.
void write_all(int fd, std::string_view bytes);

}  // namespace ad
