#include "config/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace failcat {
namespace {

// Marks a payload that already holds JSON members (`"msg":…,"k":"v"`).
constexpr char kJsonPayload = '\x1e';
std::atomic<bool> g_json{false};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(micros % 1'000'000));
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = std::string("{\"ts\":\"") + ts + "\",\"level\":\"" +
                       std::string(level.data(), level.size()) + "\",";
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!payload.empty() && payload.front() == kJsonPayload) {
      line.append(payload.substr(1));
    } else {
      line += "\"msg\":\"" + json_escape(payload) + "\"";
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out;
}

void setup_logging(const std::string& level, LogFormat format) {
  auto logger = spdlog::stderr_logger_mt("failcat");
  if (format == LogFormat::json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  g_json = format == LogFormat::json;
}

void flush_logs() {
  spdlog::default_logger_raw()->flush();
}

void log_event(LogLevel level, std::string_view message,
               std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  const auto spd = level == LogLevel::debug  ? spdlog::level::debug
                   : level == LogLevel::info ? spdlog::level::info
                   : level == LogLevel::warn ? spdlog::level::warn
                                             : spdlog::level::err;
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(spd)) return;
  std::string payload;
  if (g_json) {
    payload.push_back(kJsonPayload);
    payload += "\"msg\":\"" + json_escape(message) + "\"";
    for (const auto& [k, v] : fields) {
      payload += ",\"" + json_escape(k) + "\":\"" + json_escape(v) + "\"";
    }
  } else {
    payload.assign(message);
    for (const auto& [k, v] : fields) {
      payload += ' ';
      payload.append(k);
      payload += '=';
      const bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string_view::npos;
      if (quote) payload += '"';
      payload.append(v);
      if (quote) payload += '"';
    }
  }
  logger->log(spd, "{}", payload);
}

}  // namespace failcat
