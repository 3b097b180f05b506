#pragma once

#include <string>
#include <utility>
#include <variant>

namespace failcat {

/// Why an operation failed. The API maps each kind to exactly one HTTP status.
enum class ErrorKind {
  invalid_argument,     ///< The caller sent something wrong (names `field`).
  not_found,            ///< The object does not exist (or is outside the caller's tenant).
  precondition_failed,  ///< An If-Match / version check did not hold.
  conflict,             ///< The request contradicts stored state.
  unavailable,          ///< A dependency (database, disk) failed; retrying later may work.
  overloaded,           ///< Bounded capacity is full; retry after a pause.
  key_reused,           ///< An idempotency key already names a different failure.
  rejected,             ///< The store refused the data itself (a value out of a column's
                        ///< range, a violated constraint): the same data never succeeds.
  internal,             ///< A bug: an invariant did not hold.
};

/// An error value carried through the core instead of an exception.
struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  std::string field;  ///< The offending input field, when there is one.
  /// For `unavailable`: seconds until a retry may succeed, when known (0: not known).
  int retry_after_seconds = 0;

  static Error invalid(std::string field, std::string message) {
    return Error{ErrorKind::invalid_argument, std::move(message), std::move(field)};
  }
  static Error unavailable(std::string message) {
    return Error{ErrorKind::unavailable, std::move(message), {}};
  }
  static Error not_found(std::string message) {
    return Error{ErrorKind::not_found, std::move(message), {}};
  }
};

/// Either a value or an Error; a minimal `expected`.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(data_); }
  Error&& error() && { return std::get<1>(std::move(data_)); }

 private:
  std::variant<T, Error> data_;
};

/// The value-less result of an operation that can fail.
struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() {
  return Unit{};
}

}  // namespace failcat
