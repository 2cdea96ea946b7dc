// SseParser: splits a text/event-stream body into events (the "data" field of each),
// fed with pieces of any size as they arrive. Lines end with LF, CRLF or CR; a blank
// line ends an event; "data:" lines are joined with '\n' (one space after the colon is
// dropped); comments (":...") and other fields (event, id, retry) are ignored; an event
// without data is not emitted.
//
// Threads: a parser belongs to the thread that feeds it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/client/http-client.h"

namespace shardlm::client {

struct SseEvent {
  std::string data;      // the data lines, joined with '\n'
  Clock::time_point t;   // time of the piece that completed the event
};

class SseParser {
 public:
  // Appends the events that `bytes` (received at t) completes to out.
  void feed(std::string_view bytes, Clock::time_point t, std::vector<SseEvent>& out);
  // End of the stream: an event still open (no blank line after it) is emitted.
  void finish(Clock::time_point t, std::vector<SseEvent>& out);

 private:
  void line_done(Clock::time_point t, std::vector<SseEvent>& out);
  std::string line_;        // current line so far
  std::string data_;        // data of the current event ('\n'-joined)
  bool has_data_ = false;   // a data field was seen in the current event
  bool after_cr_ = false;   // the last byte was CR (an LF right after it is skipped)
};

}  // namespace shardlm::client
