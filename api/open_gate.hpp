#pragma once
// The gate of a server without API keys (SPEC §9's protected mode): what keeps a web page the
// operator happens to open from using the API on their behalf.

#include <string>
#include <vector>

#include "api/http_server.hpp"

namespace failcat {

struct OpenGateOptions {
  /// FAILCAT_ALLOWED_HOSTS: names (lower case) accepted as a Host too, e.g. a reverse proxy
  /// that passes its own; "*" alone accepts any.
  std::vector<std::string> allowed_hosts;
  /// Bound to a loopback address: only loopback names and address literals may reach the API
  /// (a DNS-rebinding page sends its own name as Host). Off when the operator allowed an open
  /// server on the network (FAILCAT_ALLOW_INSECURE), whose clients use any name.
  bool loopback_only = true;
};

/// Refuses, on API routes (open routes pass untouched):
/// - 403 naming `Host` when `loopback_only` and the Host is neither an address literal nor
///   `localhost` (`*.localhost`) nor in `allowed_hosts`;
/// - 403 naming `Origin` for a change (any method but GET, HEAD, OPTIONS) a browser marks as
///   cross-site (`Sec-Fetch-Site: cross-site` or `same-site`), or, from a browser that sends
///   no `Sec-Fetch-Site`, whose `Origin` is not the Host it was sent to. Clients other than
///   browsers send neither header.
RequestGate make_open_gate(OpenGateOptions options);

}  // namespace failcat
