// The step protocol (ARCHITECTURE §2): every message rank 0 sends to all ranks, and the
// records they send back. Rank 0 decides, workers execute: a STEP is a documented,
// versioned diff against the previous step. Plain structs; encoded and decoded by
// protocol/wire.h (the only code that knows the bytes), built by the scheduler (sched/)
// and the command drivers (app/, bench/), broadcast by cluster/channel.h, applied by every
// rank's StepExecutor (cluster/step-executor.h). No threads here: a message is owned by
// whoever built or decoded it (rank 0's engine thread, a worker loop).
//
// Wire format, version 8 (little-endian; every rank runs the same binary; 8: a LogitRow
// carries its probe tokens and a Candidates record their logits (speculative sampling,
// sampling/spec-verify.h). 7: the STEP ends with the allowed-token masks of its
// constrained rows (grammar-constrained output). 6: KvOp carries
// the block's key (chain hash, parent hash, tokens): offload and restore are executed.
// 5: RunningSeq carries start_pos, the draft list is gone: draft tokens are ordinary
// tokens with rows).
// 4: an explicit logit-row table replaces the per-sequence sample flags; typed KV ops;
//    row records carry their row's identity. 3: PROBE.
//
//   Message    := Header Payload
//   Header     := u32 magic "SLMW"  u16 version(=9)  u16 kind  u64 payload_bytes    (16 bytes)
//   kind       := 1 STEP | 2 LOAD | 3 UNLOAD | 4 PING | 5 SHUTDOWN | 6 PROBE
//   The header is broadcast first, then the payload (payload_bytes <= 2^31), each with
//   a deadline.
//
//   STEP payload := u64 step_id
//                   u32 n_new      × NewSeq     sequences seen for the first time, in full
//                   u32 n_running  × RunningSeq sequences already known to every rank
//                   u32 n_rows     × LogitRow   the logit-row table, in output order
//                   u32 n_finished × u64        seq ids every rank frees (after this step)
//                   u32 n_kv_ops   × KvOp       KV block operations, applied before the forward, in order
//                   u32 n_masks    × RowMask    allowed tokens of the constrained rows, rows ascending
//   NewSeq     := u64 seq_id  u32 start_pos  u32 n_prompt  Ints tokens  Ints block_table
//                 Ints history  u8 n_top  u8 logprobs(0|1)  Sampling
//   RunningSeq := u64 seq_id  u32 start_pos  Ints tokens  Ints new_blocks
//   LogitRow   := u64 seq_id  u32 pos  Ints probe      probe: at most Candidates::kMaxProbe
//                 distinct token ids (the proposal's support for position pos + 1)
//   Sampling   := f32 temperature  i32 top_k  f32 top_p  f32 min_p  u64 seed
//                 f32 repetition_penalty  f32 presence_penalty  f32 frequency_penalty
//   KvOp       := u8 kind(1 copy | 2 offload | 3 restore)  i32 src  i32 dst
//                 u64 hash  u64 parent  Ints tokens     the block's BlockKey (kv/block-hash.h):
//                 the disk tier's file key and what each rank checks a file against
//   RowMask    := u32 row  u32 n_words  n_words × u64   row: index in the logit-row table;
//                 n_words = ceil(n_vocab / 64); bit (id % 64) of word (id / 64) = token id
//                 allowed. The whole vocabulary's mask is broadcast; each rank reads the
//                 bits of its own slice and sets the others' logits to -inf before
//                 reducing the row (sampling/allowed-tokens.h). Unconstrained rows: none.
//   Ints       := u32 count  count × i32
//   string     := u32 length  length × u8
//
//   LOAD payload  := string model_path  string config_json (RuntimeConfig as JSON)
//   PROBE payload := u64 bytes (> 0)  u32 threads (1..4096)
//   UNLOAD, PING, SHUTDOWN: empty payload.
//
// What follows each message (collectives, each with a deadline):
//   STEP with restore ops: after every op is applied (before the forward), one
//     allreduce-sum of f32 [n_restore] (1 where this rank failed that restore, in op
//     order); every rank, rank 0 included, learns which restores failed on any rank.
//     A failed restore's block is then not registered by rank 0 (recomputed later).
//   STEP with n_rows > 0: a fixed-size gather to rank 0 of n_rows RowRecords per rank,
//     in table order:
//       RowRecord := RowHeader  Candidates record (sampling/candidates.h, record_bytes(K),
//                    K = RuntimeConfig::sample_candidates, the same on every rank)
//       RowHeader := u32 magic "SLMR"  u32 row  u32 n_rows  u32 pos  u64 step_id  u64 seq_id
//                    (32 bytes: the row's index, the table size, and the row's identity,
//                    which rank 0 checks against its own table)
//   LOAD: every rank loads in lockstep (agreement collectives per layer).
//   PING, SHUTDOWN: one gather of each rank's RankStats (cluster/channel.h) to rank 0.
//   PROBE: every rank streams a buffer of `bytes` with `threads` threads
//     (kernels/stream-read.h) and gathers its bandwidth (f64, bytes/s) to rank 0.
//
// Decoding checks every count and length against the payload, rejects trailing bytes,
// unknown KV op kinds, copy ops (no build makes them yet), and masks whose rows are not
// ascending table indexes.
// A malformed message is an error value, never a read past the end.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

constexpr uint32_t kWireMagic = 0x574D4C53;  // "SLMW" (little-endian bytes 'S' 'L' 'M' 'W')
constexpr uint16_t kWireVersion = 9;

enum class MsgKind : uint16_t {
  STEP = 1,      // payload StepMsg: one batch to compute
  LOAD = 2,      // payload LoadMsg: load a model (every rank, in lockstep)
  UNLOAD = 3,    // no payload: free the model
  PING = 4,      // no payload: heartbeat while idle, then a RankStats gather
  SHUTDOWN = 5,  // no payload: RankStats gather, then every worker exits
  PROBE = 6,     // payload ProbeMsg: every rank measures its read bandwidth at once
};

// Sent before every payload.
struct MsgHeader {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  uint16_t kind = 0;           // a MsgKind
  uint64_t payload_bytes = 0;  // bytes of the payload that follows (<= 2^31)
};
static_assert(sizeof(MsgHeader) == 16);

// A sequence every rank sees for the first time (or again, after a preemption, under a
// new seq_id). Positions start_pos .. start_pos + tokens.size() - 1 are computed now.
struct NewSeq {
  uint64_t seq_id = 0;                // wire id, unique among the sequences live on the ranks
  uint32_t start_pos = 0;             // KV for positions < start_pos is already in block_table (prefix cache)
  uint32_t n_prompt = 0;              // prompt length; positions >= n_prompt hold generated tokens
  std::vector<int32_t> tokens;        // token ids at positions start_pos .. start_pos + size - 1
  std::vector<int32_t> block_table;   // KV block ids of the sequence so far, in position order;
                                      //   holds at least start_pos + tokens.size() positions
  std::vector<int32_t> history;       // token ids at positions < start_pos; sent only when a penalty
                                      //   is active (then exactly start_pos of them), else empty
  uint8_t n_top = 0;                  // top alternatives each rank keeps per row, for logprobs (0..20)
  bool logprobs = false;              // the request reports logprobs: every row's slice log-sum-exp is
                                      //   computed (else only where sampling needs it; candidates.h)
  SamplingParams sampling;            // how this sequence's rows are reduced (validated by rank 0)
};

// A sequence every rank already holds: its next tokens and the blocks they need.
// Positions start_pos .. start_pos + tokens.size() - 1. start_pos is the count of the
// sequence's positions rank 0 keeps: the ranks' count after the previous steps, or less
// when the previous step's last positions held speculative tokens that were rejected
// (then the ranks forget them: at most the previous step's tokens; with penalties they
// also take those generated tokens back out of their counts, never a prompt token).
struct RunningSeq {
  uint64_t seq_id = 0;
  uint32_t start_pos = 0;            // position of tokens[0]
  std::vector<int32_t> tokens;       // token ids computed in this step (may be empty)
  std::vector<int32_t> new_blocks;   // KV block ids appended to the sequence's block table
};

// One row of the logit-row table: the logits of sequence seq_id at position pos are
// reduced to sampling candidates on every rank and gathered to rank 0 as one RowRecord.
// pos must be one of the positions the sequence computes in this step; (seq_id, pos)
// pairs are distinct. A sequence may have several rows (e.g. speculative verification);
// the usual case is one row at the sequence's last position of the step.
// The RNG counter of a row is pos + 1 (the sequence's length once pos is computed).
// A row that verifies a sampled proposal for position pos + 1 names the proposal's
// support as probes: every rank reports their logits (and, without a filter, samples
// outside them), see sampling/spec-verify.h. Empty for every other row.
struct LogitRow {
  uint64_t seq_id = 0;
  uint32_t pos = 0;             // position in the sequence (0-based), not an index into the batch
  std::vector<int32_t> probe;   // token ids, at most Candidates::kMaxProbe, distinct
  bool operator==(const LogitRow&) const = default;
};

enum class KvOpKind : uint8_t {
  copy = 1,     // copy block src to block dst (copy-on-write of a shared block; rejected: not made yet)
  offload = 2,  // copy block src to this rank's disk tier under `hash` (written behind the engine)
  restore = 3,  // read this rank's disk file `hash` into block dst (before the forward)
};

// A KV block operation, applied before the step's forward, in list order (rank 0 lists
// offloads before restores, so a block evicted and refilled in one step is saved first).
// An offload copies the block's bytes into the rank's writer queue (or drops it when the
// queue is full); a restore reads and checks the file synchronously and reports failure
// through the step's restore allreduce (see the grammar above).
struct KvOp {
  KvOpKind kind = KvOpKind::copy;
  int32_t src = 0;               // block id (copy, offload); unused (0) for restore
  int32_t dst = 0;               // block id (copy, restore); unused (0) for offload
  uint64_t hash = 0;             // the block's chain hash: the file key
  uint64_t parent = 0;           // chain hash of the previous block (0 for the first)
  std::vector<int32_t> tokens;   // i32 [block_size] the block's tokens (checked against the file)
  bool operator==(const KvOp&) const = default;
};

// The allowed tokens of one constrained row (rank 0's grammar state after the row's
// sequence so far): bit (id % 64) of bits[id / 64] set = token id may be sampled.
struct RowMask {
  uint32_t row = 0;             // index into StepMsg::rows
  std::vector<uint64_t> bits;   // u64 [ceil(n_vocab / 64)] over the whole vocabulary
  bool operator==(const RowMask&) const = default;
};

// One engine iteration, as a diff against the previous step. The batch is the tokens
// of new_seqs then running, in message order; rows name which of them give logits.
struct StepMsg {
  uint64_t step_id = 0;                // rank 0's step counter (in logs and row records)
  std::vector<NewSeq> new_seqs;
  std::vector<RunningSeq> running;
  std::vector<LogitRow> rows;          // the logit-row table; row records come back in this order
  std::vector<uint64_t> finished;      // seq ids freed on every rank after this step's forward
  std::vector<KvOp> kv_ops;            // disk tier offloads, then restores (no copy ops)
  std::vector<RowMask> masks;          // constrained rows only, rows ascending (none: unconstrained)
};

struct LoadMsg {
  std::string model_path;   // path every rank opens (the same file system, or the same copy)
  std::string config_json;  // RuntimeConfig::to_json() as rank 0 resolved it
};

struct ProbeMsg {
  uint64_t bytes = 0;    // bytes of the buffer each rank streams (> 0)
  uint32_t threads = 1;  // threads per rank (1..4096)
};

// The header of one row record (gathered after a STEP with rows); see RowHeader above.
struct RowRecordHeader {
  uint32_t row = 0;       // index in the step's logit-row table
  uint32_t n_rows = 0;    // size of the table this rank executed
  uint32_t pos = 0;       // LogitRow::pos
  uint64_t step_id = 0;   // StepMsg::step_id
  uint64_t seq_id = 0;    // LogitRow::seq_id
  bool operator==(const RowRecordHeader&) const = default;
};

}  // namespace shardlm
