// The benchmark tool's HTTP client is the client module's (shardlm/client/http-client.h);
// these names keep the bench code's spelling.
#pragma once
#include "shardlm/client/http-client.h"

namespace shardlm::bench {
using client::CallOptions;
using client::ChunkFn;
using client::Clock;
using client::HttpClient;
using client::HttpClientConfig;
using client::HttpResponse;
using client::parse_url;
using client::Url;
}  // namespace shardlm::bench
