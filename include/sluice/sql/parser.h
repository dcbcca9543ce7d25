// The SQL parser: Flink SQL's dialect (Calcite's grammar: back-quoted identifiers, ROW<...>,
// INTERVAL '5' SECOND, CREATE TABLE ... WITH ('k' = 'v')) plus the common PostgreSQL spellings
// (double-quoted identifiers, `::` casts). Hand-written recursive descent with precedence climbing
// for expressions. Errors are SqlErrors naming line and column, with the line and a caret under
// the token, and the nearest keyword when a word looks misspelled.
//
// Threading: parse() is a pure function; call it from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/sql/ast.h"

namespace sluice::sql {

// A SQL statement that cannot be parsed, bound or planned. what() ends with the offending line
// and a caret under the position.
class SqlError : public Error {
 public:
  SqlError(const std::string& message, SourcePosition position, std::string_view source);
  SqlError(const std::string& message);  // no position (e.g. a whole statement)
  bool has_position() const { return has_position_; }
  SourcePosition position() const { return position_; }

 private:
  SourcePosition position_;
  bool has_position_ = false;
};

// All statements of a script, separated by `;`.
std::vector<std::unique_ptr<Statement>> parse_sql(std::string_view sql);

// One expression (for DataFrame programs and tests).
ExprPtr parse_expression(std::string_view sql);

// `s` in upper case (ASCII): keywords and function names compare this way.
std::string ascii_upper(std::string_view s);

// The candidate closest to `name` by edit distance, case-insensitively, if it is close enough to
// be a likely misspelling; empty otherwise.
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace sluice::sql
