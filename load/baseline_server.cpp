// failcat-load baseline-server: the floor HTTP ingest is measured against — a bare Pistache
// endpoint, configured like failcat's (same thread count and limits), answering every request
// with a fixed 202 and a small JSON body, doing no parsing, matching or storage.
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>
#include <signal.h>

#include <iostream>

#include "load/arguments.hpp"
#include "load/commands.hpp"

namespace failcat::load {
namespace {

using namespace Pistache;

constexpr const char* kHelp =
    "usage: failcat-load baseline-server [--host H] [--port P] [--threads N]\n"
    "Answers every request with 202 and a fixed JSON body until SIGTERM or SIGINT; prints\n"
    "the bound port on stdout (use --port 0 for a free one).\n";

class FixedAnswer final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(FixedAnswer)

  void onRequest(const Http::Request&, Http::ResponseWriter writer) override {
    static const std::string kBody =
        "{\"id\":\"01890a5d-ac96-774b-bcce-b302099a8057\",\"match_type\":\"exact\"}";
    writer.send(Http::Code::Accepted, kBody, MIME(Application, Json));
  }
};

}  // namespace

int baseline_server_command(const std::vector<std::string>& argv) {
  try {
    Arguments args(argv, {"help"}, {"host", "port", "threads"});
    if (args.has("help")) {
      std::cout << kHelp;
      return kExitOk;
    }
    const std::string host = args.text("host", "127.0.0.1");
    const auto port = static_cast<std::uint16_t>(args.integer("port", 0, 0, 65535));
    const auto threads = static_cast<int>(args.integer("threads", 2, 1, 64));

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Http::Endpoint endpoint(Address(host, Port(port)));
    endpoint.init(Http::Endpoint::options()
                      .threads(threads)
                      .flags(Tcp::Options::ReuseAddr)
                      .maxRequestSize((1u << 20) + (16u << 10)));
    endpoint.setHandler(Http::make_handler<FixedAnswer>());
    endpoint.serveThreaded();
    std::cout << static_cast<std::uint16_t>(endpoint.getPort()) << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    endpoint.shutdown();
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "failcat-load baseline-server: " << e.what() << "\n" << kHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "failcat-load baseline-server: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace failcat::load
