// The step protocol: rank 0 → all ranks, one message per engine iteration.
//
// Wire format, version 3 (little-endian; every rank runs the same binary; 3 added PROBE):
//
//   Message   := Header Payload
//   Header    := u32 magic "SLMW"  u16 version(=3)  u16 kind  u64 payload_bytes
//   kind      := 1 STEP | 2 LOAD | 3 UNLOAD | 4 PING | 5 SHUTDOWN | 6 PROBE
//   The header (16 bytes) is broadcast first, then the payload, each with a deadline.
//
//   STEP payload (a diff against the previous step, as in vLLM's scheduler output):
//     u64 step_id
//     u32 n_new     × NewSeq      sequences seen for the first time, in full
//     u32 n_running × RunningSeq  sequences already known to every rank
//     u32 n_finished × u64 seq_id sequences whose state every rank frees (after this step)
//     u32 n_kv_ops  × KvOp        block copies/offloads/restores (later KV tiers)
//     u32 n_draft   × Draft       draft tokens for speculative decoding (later)
//   NewSeq     := u64 seq_id  u32 start_pos  u32 n_prompt  Ints tokens  Ints block_table  Ints history
//                 u8 sample  u8 n_top  Sampling
//                 (start_pos > 0 when a cached prefix already holds KV for positions < start_pos;
//                 history = the tokens at positions < start_pos, sent only when penalties need
//                 them; n_prompt = prompt length, positions >= n_prompt are generated tokens;
//                 n_top = top alternatives each rank keeps for logprobs, 0..20)
//   RunningSeq := u64 seq_id  Ints tokens  Ints new_blocks  u8 sample
//   Sampling   := f32 temperature  i32 top_k  f32 top_p  f32 min_p  u64 seed
//                 f32 repetition_penalty  f32 presence_penalty  f32 frequency_penalty
//   KvOp       := u8 op(1 copy, 2 offload, 3 restore)  i32 src  i32 dst
//   Draft      := u64 seq_id  Ints tokens
//   Ints       := u32 count  count × i32
//   The tokens of a sequence in a step get positions n_computed .. n_computed+len-1,
//   where n_computed is start_pos (new) or the count after the previous steps.
//   sample=1: the logits of the sequence's last token in this step are reduced to
//   sampling candidates and gathered to rank 0.
//
//   LOAD payload := string model_path  string config_json ; UNLOAD, PING, SHUTDOWN: empty.
//   After LOAD every rank loads in lockstep (agreement collectives per layer); after
//   a STEP with sampled rows, a fixed-size gather of candidate records to rank 0;
//   after PING and after SHUTDOWN, one gather of each rank's RankStats (channel.h) to rank 0.
//   PROBE payload := u64 bytes  u32 threads : every rank streams a buffer of that size
//   with that many threads (kernels/stream-read.h) and gathers its bandwidth (f64) to
//   rank 0 (shardlm-perf measures all ranks at once between runs).
//   string := u32 length + bytes
//
// Decoding checks every length against the payload; a malformed message is an error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/protocol/step-msg.h"

namespace shardlm {

constexpr uint32_t kWireMagic = 0x574D4C53;  // "SLMW"
constexpr uint16_t kWireVersion = 3;

// PROBE: every rank measures its read bandwidth at once and gathers it to rank 0
// (shardlm-perf, between repetitions); payload: ProbeMsg.
enum class MsgKind : uint16_t { STEP = 1, LOAD = 2, UNLOAD = 3, PING = 4, SHUTDOWN = 5, PROBE = 6 };

struct MsgHeader {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  uint16_t kind = 0;
  uint64_t payload_bytes = 0;
};
static_assert(sizeof(MsgHeader) == 16);

struct LoadMsg {
  std::string model_path;
  std::string config_json;
};

struct ProbeMsg {
  uint64_t bytes = 0;   // buffer each rank streams
  uint32_t threads = 1; // threads per rank
};

std::vector<uint8_t> encode_step(const StepMsg& m);
Result<StepMsg> decode_step(const uint8_t* data, size_t n);
std::vector<uint8_t> encode_load(const LoadMsg& m);
Result<LoadMsg> decode_load(const uint8_t* data, size_t n);
std::vector<uint8_t> encode_probe(const ProbeMsg& m);
Result<ProbeMsg> decode_probe(const uint8_t* data, size_t n);
Status check_header(const MsgHeader& h);

}  // namespace shardlm
