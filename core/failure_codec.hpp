#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/failure.hpp"

namespace failcat {

/// The current version of the binary failure encoding; the first byte of every encoding.
inline constexpr std::uint8_t kFailureCodecVersion = 1;

/// Encodes all 23 columns of `record` plus its `idempotency_key` into a compact, versioned
/// byte string (the WAL payload). The encoding is exact: `decode_failure(encode_failure(r))`
/// gives back every field, a null optional stays distinct from an empty string, and doubles
/// keep their bit pattern (NaN payloads and -0.0 included).
///
/// Layout (version 1): `u8 version`, a varint bitmap of which optionals are present and of the
/// three booleans, then the fields in column order. Strings are a varint length and raw bytes;
/// integers are zig-zag varints; the confidence is 8 little-endian bytes of its IEEE-754 bits.
std::string encode_failure(const FailureRecord& record);
/// Appends the same encoding to `out` (a buffer reused across records).
void encode_failure_to(std::string& out, const FailureRecord& record);

/// Decodes what `encode_failure` produced. Returns nullopt for anything else: an unknown
/// version, a truncated or over-long input, unknown flag bits, a length pointing past the end,
/// an over-long varint or a step index outside int32. Never reads out of bounds.
std::optional<FailureRecord> decode_failure(std::string_view bytes);

}  // namespace failcat
