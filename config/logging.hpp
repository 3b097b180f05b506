#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"

namespace failcat {

/// Installs the process-wide spdlog logger: level and `text|json` format from the config.
/// JSON lines carry `ts`, `level`, `msg` and any fields passed to `log_event`.
void setup_logging(const std::string& level, LogFormat format);

enum class LogLevel { debug, info, warn, error };

/// Logs a message with structured fields (`key=value` in text, JSON members in json).
/// Never pass secrets: keys, passwords and tokens stay out of logs.
void log_event(LogLevel level, std::string_view message,
               std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});

/// Writes out anything buffered (before an abrupt exit).
void flush_logs();

/// `text` escaped for a JSON string body (no surrounding quotes).
std::string json_escape(std::string_view text);

}  // namespace failcat
