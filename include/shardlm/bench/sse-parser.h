// The SSE parser is the client module's (shardlm/client/sse-parser.h).
#pragma once
#include "shardlm/bench/http-client.h"
#include "shardlm/client/sse-parser.h"

namespace shardlm::bench {
using client::SseEvent;
using client::SseParser;
}  // namespace shardlm::bench
