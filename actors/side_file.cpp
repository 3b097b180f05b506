#include "actors/side_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace failcat {
namespace {

/// Makes the directory's entries (a new or renamed file) durable.
Status sync_directory(const std::filesystem::path& dir) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = dir_fd >= 0 && ::fsync(dir_fd) == 0;
  if (dir_fd >= 0) ::close(dir_fd);
  if (!synced) return Error::unavailable("cannot fsync " + dir.string());
  return ok_status();
}

}  // namespace

Status append_durably(const std::string& dir_name, const char* file, const std::string& lines) {
  const std::filesystem::path dir(dir_name);
  const std::string path = (dir / file).string();
  static std::mutex mutex;  // one writer at a time per process
  std::lock_guard<std::mutex> lock(mutex);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::unavailable("cannot open " + path + ": " + std::strerror(errno));
  struct stat before {};
  if (::fstat(fd, &before) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::unavailable("cannot stat " + path + ": " + std::strerror(err));
  }
  // A write cut short (a full disk) is cut back off, so the next append starts a clean line.
  const auto fail = [&](const char* what) {
    const int err = errno;
    (void)::ftruncate(fd, before.st_size);
    ::close(fd);
    return Error::unavailable(std::string(what) + " " + path + ": " + std::strerror(err));
  };
  std::size_t done = 0;
  while (done < lines.size()) {
    const ssize_t n = ::write(fd, lines.data() + done, lines.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) return fail("cannot fdatasync");
  ::close(fd);
  if (!existed) {
    if (auto synced = sync_directory(dir); !synced) return synced;
  }
  return ok_status();
}

Status replace_durably(const std::string& dir_name, const std::string& file,
                       const std::string& content) {
  const std::filesystem::path dir(dir_name);
  const std::string path = (dir / file).string();
  const std::string temp = path + ".tmp";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::unavailable("cannot create " + dir.string() + ": " + ec.message());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::unavailable("cannot open " + temp + ": " + std::strerror(errno));
  const auto fail = [&](const char* what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    return Error::unavailable(std::string(what) + " " + temp + ": " + std::strerror(err));
  };
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write", n < 0 ? errno : ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync", errno);
  const int closed = ::close(fd);
  if (closed != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return Error::unavailable("cannot close " + temp + ": " + std::strerror(err));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return Error::unavailable("cannot rename " + temp + ": " + std::strerror(err));
  }
  return sync_directory(dir);
}

}  // namespace failcat
