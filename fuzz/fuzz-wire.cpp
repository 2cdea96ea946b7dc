// libFuzzer entry point for the step protocol decoders (protocol/wire.h): any payload
// must decode or fail cleanly, and a STEP, LOAD or PROBE that decodes must encode back
// to exactly the same bytes. The first input byte picks the decoder (seeds:
// fuzz/make-seeds.py, folder wire/).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "shardlm/protocol/wire.h"

using namespace shardlm;

namespace {
void same_bytes(const std::vector<uint8_t>& enc, const uint8_t* p, size_t n) {
  if (enc.size() != n || (n && std::memcmp(enc.data(), p, n) != 0)) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  switch (data[0] % 5) {
    case 0:
      if (auto s = decode_step(p, n)) {
        if (!check_step_supported(s.value())) std::abort();  // decode refuses those
        same_bytes(encode_step(s.value()), p, n);
      }
      break;
    case 1:
      if (auto l = decode_load(p, n)) same_bytes(encode_load(l.value()), p, n);
      break;
    case 2:
      if (auto q = decode_probe(p, n)) same_bytes(encode_probe(q.value()), p, n);
      break;
    case 3: {  // row records of a fixed two-row table from two ranks
      StepMsg t;
      t.step_id = 3;
      t.rows = {{1, 0}, {2, 5}};
      if (auto r = decode_step_rows(t, p, n, 2, 2)) {
        if (r->rows != t.rows || r->cands.size() != 2 || r->cands[0].size() != 2) std::abort();
      }
      break;
    }
    default: {
      MsgHeader h;
      if (n < sizeof h) return 0;
      std::memcpy(&h, p, sizeof h);
      (void)check_header(h);
    }
  }
  return 0;
}
