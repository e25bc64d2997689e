#pragma once
// Replacing a file atomically: readers of `path` see the old file or the complete new one,
// never a half-written one, and a failure leaves the old file as it was. History::write_csv and
// History::save_plot write this way; so can any other result file:
//
//   ad::report::replace_file("out/summary.json", text);
//   ad::report::replace_file_with("out/loss.png", [&](const std::string& tmp) { figure.save(tmp); });
#include <functional>
#include <string>

namespace ad::report {

// Writes `bytes` to a new temporary file next to `path` (same directory:
// ".<name>.tmp-<pid>-<n><extension>", created with mode 0666 & ~umask), flushes it to disk
// (fsync) and renames it over `path`.
// Throws ad::Error "<caller>: cannot write '<path>': <why>" when the temporary file cannot be
// created or written (e.g. the directory does not exist) or the rename fails (e.g. `path` is a
// directory); the temporary file is removed then and `path` is untouched.
void replace_file(const std::string& path, const std::string& bytes,
                  const std::string& caller = "ad::report::replace_file");

// The same for a writer that opens the file itself (e.g. ad::plot::Figure::save, which picks the
// format by the extension): write(tmp) must fill the temporary file `tmp`, which exists (empty)
// and has the extension of `path`. An exception from `write` is reported the same way (one that
// is not a std::exception is rethrown as it is, after the clean-up).
void replace_file_with(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                       const std::string& caller = "ad::report::replace_file_with");

}  // namespace ad::report
