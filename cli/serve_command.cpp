#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "api/http_server.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"
#include "cli/commands.hpp"
#include "cli/store_options.hpp"
#include "config/config.hpp"
#include "config/logging.hpp"
#include "core/catalog.hpp"
#include "metrics/metrics.hpp"

namespace failcat {

int serve_command(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << config_help();
      return kExitOk;
    }
  }
  auto config = parse_config(config_environment(), args);
  if (!config) {
    std::cerr << "failcat: " << config.error().field << ": " << config.error().message << "\n";
    return kExitUsage;
  }
  setup_logging(config->log_level, config->log_format);

  auto catalog = load_catalog_file(config->catalog_path);
  if (!catalog.ok()) {
    std::cerr << "failcat: FAILCAT_CATALOG: " << config->catalog_path
              << " is invalid: " << describe(catalog.problems.front()) << "\n";
    return kExitUsage;
  }

  // Signals go to the waiting main thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto store = open_store(store_options(*config));
  if (!store) {
    std::cerr << "failcat: " << store.error().field << ": " << store.error().message << "\n";
    return kExitUsage;
  }
  auto migrated = (*store)->migrate();
  if (!migrated) {
    std::cerr << "failcat: migrations failed: " << migrated.error().message << "\n";
    return kExitFailure;
  }

  Router router;
  router.add("GET", "/healthz", [](const HttpRequest&, Responder respond) {
    respond(HttpResponse{200, "text/plain", "ok\n", {}});
  });
  Metrics metrics(MetricsOptions{FAILCAT_VERSION, router.templates(), {}});
  HttpServerOptions http;
  http.host = config->host;
  http.port = config->port;
  http.threads = config->http_threads;
  HttpServer server(http, router, metrics);
  if (auto started = server.start(); !started) {
    std::cerr << "failcat: " << started.error().message << "\n";
    return kExitFailure;
  }
  log_event(LogLevel::info, "failcat serving",
            {{"address", config->host + ":" + std::to_string(server.port())}});

  int received = 0;
  while (sigwait(&signals, &received) == 0) {
    if (received == SIGHUP) continue;
    break;
  }
  server.shutdown();
  return kExitOk;
}

}  // namespace failcat
