// UTF-8 and Python string helpers for the Jinja interpreter (module-private).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm::jinja {

// Code points of a UTF-8 string (invalid bytes pass through as single units).
std::vector<uint32_t> utf8_decode(std::string_view s);
std::string utf8_encode(const std::vector<uint32_t>& cps);
void utf8_append(std::string& out, uint32_t cp);
size_t utf8_length(std::string_view s);
// Python str.isspace() for one code point.
bool py_isspace(uint32_t cp);
// str.strip/lstrip/rstrip: chars == nullptr strips whitespace, else any of chars.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(): sep == nullptr splits on whitespace runs; maxsplit < 0: no limit.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.splitlines() (no keepends).
std::vector<std::string> py_splitlines(std::string_view s);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// markupsafe.escape: & < > " ' -> &amp; &lt; &gt; &#34; &#39;
std::string html_escape(std::string_view s);
// repr() of a str: quotes and escapes as Python does.
std::string py_str_repr(std::string_view s);

}  // namespace shardlm::jinja
