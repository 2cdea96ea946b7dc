// The streaming parser: reasoning markers, then call blocks (see tool-parser.h).
//
// Two layers over the text. The reasoning layer routes text between <think> and
// </think> to reasoning. The call layer sees the rest: in content mode it emits text
// up to anything that may still become a block's start marker (that tail is held
// back), and whitespace next to a block is dropped; in block mode it buffers until
// the block's end marker (or the end of the output when the family has none), then
// parses the block (call-body.h) into calls, or gives it back as content.
#include <algorithm>

#include "shardlm/toolcall/tool-parser.h"
#include "toolcall/call-body.h"

namespace shardlm::toolcall {

using detail::BodyKind;

namespace {

struct Rule {
  std::string start, end;  // end "": the block runs to the end of the output
  BodyKind kind;
  bool keep_start = false;     // the start marker is part of the body (llama3's '{')
  bool at_start_only = false;  // only as the first non-space text of the answer
  bool end_is_next = false;    // the end marker is not consumed (it starts the next block)
};

const std::string kPythonTag = "<|python_tag|>";

std::vector<Rule> rules_for(ToolFormat f) {
  switch (f) {
    case ToolFormat::none: return {};
    case ToolFormat::hermes: return {{"<tool_call>", "</tool_call>", BodyKind::name_arguments_object}};
    case ToolFormat::llama3:
      return {{kPythonTag, "", BodyKind::python_tag}, {"{", "", BodyKind::json_objects, true, true}};
    case ToolFormat::mistral: return {{"[TOOL_CALLS]", "", BodyKind::name_arguments_array}};
    case ToolFormat::deepseek_r1:
      return {{"<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>",
               "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>", BodyKind::deepseek_calls}};
    case ToolFormat::functionary_v3_1:
      return {{"<function=", "</function>", BodyKind::name_gt_json}, {kPythonTag, "", BodyKind::python_code}};
    case ToolFormat::functionary_v3_2: return {{">>>", ">>>", BodyKind::name_newline_json, false, false, true}};
    case ToolFormat::command_r: return {{"Action:", "", BodyKind::cohere_array}};
    case ToolFormat::command_r7b: return {{"<|START_ACTION|>", "<|END_ACTION|>", BodyKind::cohere_array}};
    case ToolFormat::firefunction_v2: return {{"functools", "", BodyKind::name_arguments_array}};
    case ToolFormat::json: return {{"[", "", BodyKind::name_arguments_array, true, true}};
  }
  return {};
}

// Longest suffix of buf that is a proper prefix of marker.
size_t partial_suffix(std::string_view buf, std::string_view marker) {
  for (size_t n = std::min(buf.size(), marker.size() - 1); n > 0; --n)
    if (buf.substr(buf.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

struct StreamParser::Impl {
  ParserConfig cfg;
  std::vector<Rule> rules;
  std::vector<std::string> drops;  // markers removed from content
  std::string open_think, close_think;

  bool in_reason = false;
  std::string rbuf;  // reasoning layer: a possible marker held back

  int mode = -1;           // -1 content, else the rule of the open block
  bool at_start = true;    // no non-space answer text seen yet
  bool trim_start = false; // drop the answer's leading whitespace (it follows a reasoning block)
  std::string buf;         // content mode: text held back
  std::string ws;          // content mode: trailing whitespace held back
  std::string block;       // block mode: the body so far
  std::string pre_ws;      // block mode: the whitespace dropped before it (given back if malformed)
  bool implicit_start = false;  // block mode: its start marker was the prompt's, not in the text
  size_t json_done = 0;         // json format: bytes of the block already sent as calls
  int32_t n_calls = 0;
  bool malformed = false;

  explicit Impl(ParserConfig c) : cfg(std::move(c)), rules(rules_for(cfg.format)) {
    if (cfg.format == ToolFormat::command_r7b) {
      open_think = "<|START_THINKING|>";
      close_think = "<|END_THINKING|>";
      drops = {"<|START_RESPONSE|>", "<|END_RESPONSE|>"};
      cfg.reasoning = true;
    } else {
      open_think = "<think>";
      close_think = "</think>";
    }
    in_reason = cfg.reasoning && cfg.start_in_reasoning;
    if (cfg.format == ToolFormat::functionary_v3_2) {
      mode = 0;  // the prompt ended with ">>>"
      implicit_start = true;
    }
  }

  void reason_feed(std::string_view text, Delta& d) {
    if (!cfg.reasoning) return tools_feed(text, d);
    rbuf.append(text);
    while (!rbuf.empty()) {
      const std::string& marker = in_reason ? close_think : open_think;
      const size_t at = rbuf.find(marker);
      if (at != std::string::npos) {
        route(std::string_view(rbuf).substr(0, at), d);
        rbuf.erase(0, at + marker.size());
        if (in_reason) trim_start = true;  // the answer proper begins: its leading space is not content
        in_reason = !in_reason;
        continue;
      }
      const size_t hold = partial_suffix(rbuf, marker);
      route(std::string_view(rbuf).substr(0, rbuf.size() - hold), d);
      rbuf.erase(0, rbuf.size() - hold);
      break;
    }
  }

  void route(std::string_view text, Delta& d) {
    if (text.empty()) return;
    if (in_reason) d.reasoning.append(text);
    else tools_feed(text, d);
  }

  // Content text: whitespace at its end is held back (it is dropped before a block).
  void emit(std::string_view text, Delta& d) {
    size_t last = text.size();
    while (last > 0 && is_ws(text[last - 1])) --last;
    if (last == 0) {
      ws.append(text);
      return;
    }
    d.content += ws;
    ws.clear();
    d.content.append(text.substr(0, last));
    ws.append(text.substr(last));
  }

  void tools_feed(std::string_view text, Delta& d) {
    buf.append(text);
    while (mode < 0 ? content_step(d) : block_step(d)) {
    }
  }

  // One content-mode step; true when the mode changed and there is more to look at.
  bool content_step(Delta& d) {
    if (at_start) {
      size_t p = 0;
      while (p < buf.size() && is_ws(buf[p])) ++p;
      if (trim_start) {
        buf.erase(0, p);
        p = 0;
      }
      if (p == buf.size()) return false;
      at_start = false;
      for (size_t r = 0; r < rules.size(); ++r)
        if (rules[r].at_start_only && buf.compare(p, rules[r].start.size(), rules[r].start) == 0) {
          pre_ws = std::move(ws) + buf.substr(0, p);
          ws.clear();
          buf.erase(0, p);
          open_block(static_cast<int>(r), 0);
          return true;
        }
    }
    size_t best = std::string::npos, best_len = 0;
    int best_rule = -1;
    for (size_t r = 0; r < rules.size(); ++r) {
      if (rules[r].at_start_only) continue;
      const size_t at = buf.find(rules[r].start);
      if (at < best) best = at, best_len = rules[r].start.size(), best_rule = static_cast<int>(r);
    }
    for (const auto& m : drops) {
      const size_t at = buf.find(m);
      if (at < best) best = at, best_len = m.size(), best_rule = -1;
    }
    if (best != std::string::npos) {
      emit(std::string_view(buf).substr(0, best), d);
      if (best_rule < 0) {
        buf.erase(0, best + best_len);
      } else {
        pre_ws = std::move(ws);
        ws.clear();
        buf.erase(0, best);
        open_block(best_rule, best_len);
      }
      return true;
    }
    size_t hold = 0;
    for (const auto& r : rules)
      if (!r.at_start_only) hold = std::max(hold, partial_suffix(buf, r.start));
    for (const auto& m : drops) hold = std::max(hold, partial_suffix(buf, m));
    emit(std::string_view(buf).substr(0, buf.size() - hold), d);
    buf.erase(0, buf.size() - hold);
    return false;
  }

  // buf begins with rule r's start marker (marker_len bytes, 0 when kept in the body).
  void open_block(int r, size_t marker_len) {
    mode = r;
    implicit_start = false;
    block.clear();
    buf.erase(0, rules[r].keep_start ? 0 : marker_len);
  }

  bool block_step(Delta& d) {
    const Rule& r = rules[mode];
    block += buf;
    buf.clear();
    if (r.kind == BodyKind::name_newline_json) {  // functionary v3.2: "all\n" is content
      static const std::string kAll = "all\n";
      if (block.size() < kAll.size() && kAll.compare(0, block.size(), block) == 0) return false;
      if (block.compare(0, kAll.size(), kAll) == 0) {
        buf = block.substr(kAll.size());
        block.clear();
        mode = -1;
        at_start = false;
        return true;
      }
    }
    if (cfg.format == ToolFormat::json) json_calls(d);
    if (r.end.empty()) return false;
    const size_t at = block.find(r.end);
    if (at == std::string::npos) return false;
    std::string rest = block.substr(r.end_is_next ? at : at + r.end.size());
    block.resize(at);
    close_block(d, true);
    buf = std::move(rest);
    return true;
  }

  void emit_calls(std::vector<ToolCall>& calls, Delta& d) {
    for (auto& c : calls) {
      CallDelta head;
      head.index = n_calls;
      head.first = true;
      head.id = c.id.empty() ? detail::new_call_id(cfg.format) : c.id;
      head.name = c.name;
      d.calls.push_back(std::move(head));
      CallDelta args;
      args.index = n_calls++;
      args.arguments = std::move(c.arguments);
      d.calls.push_back(std::move(args));
    }
  }

  // json format (a forced call array, written under a grammar): each call is sent as
  // soon as its object closes; close_block then sees only what follows the last one.
  void json_calls(Delta& d) {
    for (;;) {
      size_t p = json_done == 0 ? 1 : json_done;  // past the '[' or the last call
      while (p < block.size() && (block[p] == ',' || is_ws(block[p]))) ++p;
      if (p >= block.size() || block[p] != '{') return;
      const size_t n = detail::json_value_end(std::string_view(block).substr(p));
      if (n == std::string_view::npos) return;
      auto calls = detail::parse_body(BodyKind::name_arguments_array, "[" + block.substr(p, n) + "]", cfg.tool_names);
      if (!calls) return;  // left to close_block: malformed
      emit_calls(*calls, d);
      json_done = p + n;
    }
  }

  // The block's body is complete: calls, or the raw text back as content.
  void close_block(Delta& d, bool end_seen) {
    const Rule& r = rules[mode];
    if (json_done > 0) {  // json format: the calls so far are out; "]" must close the array
      std::string_view rest = std::string_view(block).substr(json_done);
      while (!rest.empty() && is_ws(rest.back())) rest.remove_suffix(1);
      if (rest != "]") {
        malformed = true;
        d.content.append(rest);
      }
      block.clear();
      pre_ws.clear();
      json_done = 0;
      mode = -1;
      at_start = false;
      return;
    }
    auto calls = detail::parse_body(r.kind, block, cfg.tool_names);
    if (calls) {
      emit_calls(*calls, d);
    } else {
      malformed = true;
      d.content += pre_ws;
      if (!r.keep_start && !implicit_start) d.content += r.start;
      d.content += block;
      if (end_seen && !r.end_is_next) d.content += r.end;
    }
    block.clear();
    pre_ws.clear();
    implicit_start = false;
    mode = -1;
    at_start = false;
  }

  void finish(Delta& d) {
    const std::string held = std::move(rbuf);
    rbuf.clear();
    route(held, d);
    if (mode >= 0) {
      block += buf;
      buf.clear();
      close_block(d, false);
    }
    emit(buf, d);
    buf.clear();
    if (n_calls == 0) d.content += ws;
    ws.clear();
  }
};

StreamParser::StreamParser(ParserConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
StreamParser::~StreamParser() = default;

Delta StreamParser::feed(std::string_view text) {
  Delta d;
  impl_->reason_feed(text, d);
  return d;
}

Delta StreamParser::finish() {
  Delta d;
  impl_->finish(d);
  return d;
}

int32_t StreamParser::n_calls() const { return impl_->n_calls; }
bool StreamParser::malformed() const { return impl_->malformed; }

ParsedOutput parse_output(const ParserConfig& config, std::string_view text) {
  StreamParser p(config);
  ParsedOutput out;
  auto add = [&](Delta&& d) {
    out.content += d.content;
    out.reasoning += d.reasoning;
    for (auto& c : d.calls) {
      if (c.first) out.calls.push_back({std::move(c.id), std::move(c.name), ""});
      else out.calls[static_cast<size_t>(c.index)].arguments += c.arguments;
    }
  };
  add(p.feed(text));
  add(p.finish());
  out.malformed = p.malformed();
  return out;
}

}  // namespace shardlm::toolcall
