#include "shardlm/client/sse-parser.h"

namespace shardlm::client {

void SseParser::feed(std::string_view bytes, Clock::time_point t, std::vector<SseEvent>& out) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // CRLF: the CR already ended the line
    }
    if (c == '\r') {
      after_cr_ = true;
      line_done(t, out);
    } else if (c == '\n') {
      line_done(t, out);
    } else {
      line_.push_back(c);
    }
  }
}

void SseParser::finish(Clock::time_point t, std::vector<SseEvent>& out) {
  if (!line_.empty()) line_done(t, out);
  if (has_data_) line_done(t, out);  // the blank line that never came
}

void SseParser::line_done(Clock::time_point t, std::vector<SseEvent>& out) {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_) out.push_back({data_, t});
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line_[0] != ':') {  // ":" starts a comment
    const size_t colon = line_.find(':');
    const std::string field = line_.substr(0, colon);
    std::string value;
    if (colon != std::string::npos) {
      value = line_.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "data") {
      if (has_data_) data_.push_back('\n');
      data_ += value;
      has_data_ = true;
    }
  }
  line_.clear();
}

}  // namespace shardlm::client
