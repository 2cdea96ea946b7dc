// Encoding and decoding of the step protocol: the byte grammar is documented in
// protocol/step-msg.h, next to the structs; this is the only code that reads or writes
// those bytes. Pure functions: no MPI, no threads, no state.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/protocol/step-msg.h"
#include "shardlm/sampling/candidates.h"

namespace shardlm {

std::vector<uint8_t> encode_step(const StepMsg& m);
// Rejects truncation, trailing bytes, unknown KV op kinds, and KV copy ops
// (check_step_supported).
Result<StepMsg> decode_step(const uint8_t* data, size_t n);
// Parts of a well-formed STEP this build does not execute: KV copy ops.
// decode_step and every executor check it; rank 0 checks before broadcasting.
Status check_step_supported(const StepMsg& m);

std::vector<uint8_t> encode_load(const LoadMsg& m);
Result<LoadMsg> decode_load(const uint8_t* data, size_t n);
std::vector<uint8_t> encode_probe(const ProbeMsg& m);
Result<ProbeMsg> decode_probe(const uint8_t* data, size_t n);
Status check_header(const MsgHeader& h);

// Row records (gathered after a STEP with rows). K: candidate capacity, K >= 1.
constexpr size_t kRowHeaderBytes = 32;
size_t row_record_bytes(int K);
// Appends exactly row_record_bytes(K) bytes.
void encode_row_record(const RowRecordHeader& h, const Candidates& c, int K, std::vector<uint8_t>& out);

// The rows of one STEP on rank 0: its table, and for each row the candidates of every
// rank (cands[row][rank]), checked to describe that row.
struct StepRows {
  std::vector<LogitRow> rows;                  // the step's logit-row table, in order
  std::vector<std::vector<Candidates>> cands;  // [rows.size()][world]
};
// gathered: world × step.rows.size() row records of row_record_bytes(K) bytes each
// (rank-major, as MPI_Gather leaves them). Every record must name its row of step's
// table (same table size, row index, step id, seq id and position), else an error that
// names the rank and the row.
Result<StepRows> decode_step_rows(const StepMsg& step, const uint8_t* gathered, size_t n, int world, int K);

}  // namespace shardlm
