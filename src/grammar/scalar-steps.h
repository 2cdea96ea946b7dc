// One byte through a scalar frame (string, number, integer): the leaves of a stack.
//
// Phases per kind:
//   String  0 expect '"', 1 body, 2 after '\', 3 in \uXXXX (pos = hex digits seen)
//   Number  0 start, 1 after '-', 2 leading 0, 3 int digits, 4 after '.', 5 fraction,
//           6 after e/E, 7 after exponent sign, 8 exponent digits (pos = digits in part)
//   bounded Integer: phases 0-3 of Number, seen = magnitude, unit = 1 after '-'
// A String under a pattern appends its decoded characters to the stack's text and lets
// a byte through only if some continuation can still match (see pattern.h): a whole
// character is checked as it is; a byte inside a UTF-8 character or a \u escape is let
// through if one of the characters it can still become (each next byte or hex digit,
// the rest filled with the smallest) keeps the value viable, so no prefix the grammar
// accepts is left without a way on, for the pattern alone. A length-bounded String
// counts code points in Frame::len (a \u low surrogate right after a high one adds none,
// as a decoder pairs them), saturating at Node::len_cap().
#pragma once
#include <string>

#include "grammar/grammar-nodes.h"

namespace shardlm::grammar {

enum class Step { Consumed, Rejected, Retry };

// pop: the closing quote was consumed. text: the stack's decoded text (pattern strings).
Step string_step(const Grammar& g, const Node& n, Frame& f, std::string& text, uint8_t c, bool& pop);

// A byte of a string body outside escapes (control bytes rejected, UTF-8 validated with
// f.utf8/lo/hi). Used by strings and by the free keys of objects with additionalProperties.
Step utf8_byte(Frame& f, uint8_t c);

Step number_step(Frame& f, uint8_t c, bool integer);
bool number_can_end(const Frame& f);

// Integers with minimum/maximum: a digit is let through only if the digits so far can
// still end inside [Node::lo, Node::hi]; the number ends only inside it.
Step bounded_integer_step(const Node& n, Frame& f, uint8_t c);
bool bounded_integer_can_end(const Node& n, const Frame& f);

}  // namespace shardlm::grammar
