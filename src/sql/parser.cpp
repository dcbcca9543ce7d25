#include "sluice/sql/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace sluice::sql {

namespace {

std::string render_with_caret(const std::string& message, SourcePosition position,
                              std::string_view source) {
  size_t begin = std::min(position.offset, source.size());
  while (begin > 0 && source[begin - 1] != '\n') --begin;
  size_t end = source.find('\n', begin);
  if (end == std::string_view::npos) end = source.size();
  std::string line(source.substr(begin, end - begin));
  std::string caret(position.offset - begin, ' ');
  for (size_t i = 0; i < caret.size() && i < line.size(); ++i) {
    if (line[i] == '\t') caret[i] = '\t';
  }
  return fmt::format("{} (line {}, column {})\n  {}\n  {}^", message, position.line,
                     position.column, line, caret);
}

}  // namespace

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

SqlError::SqlError(const std::string& message, SourcePosition position, std::string_view source)
    : Error(ErrorCategory::kInvalidArgument, render_with_caret(message, position, source)),
      position_(position),
      has_position_(true) {}

SqlError::SqlError(const std::string& message) : Error(ErrorCategory::kInvalidArgument, message) {}

ParsedExpr::~ParsedExpr() = default;
TableRef::~TableRef() = default;
QueryNode::QueryNode() = default;
QueryNode::QueryNode(QueryNode&&) noexcept = default;
QueryNode& QueryNode::operator=(QueryNode&&) noexcept = default;
QueryNode::~QueryNode() = default;
Statement::~Statement() = default;

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string target = ascii_upper(name);
  std::string best;
  size_t best_distance = std::string::npos;
  std::vector<std::vector<size_t>> d;
  for (const std::string& candidate : candidates) {
    std::string c = ascii_upper(candidate);
    // Edit distance where swapping two neighbours is one edit (FORM -> FROM).
    d.assign(target.size() + 1, std::vector<size_t>(c.size() + 1, 0));
    for (size_t i = 0; i <= target.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= target.size(); ++i) {
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t cost = target[i - 1] == c[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && target[i - 1] == c[j - 2] && target[i - 2] == c[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    if (d[target.size()][c.size()] < best_distance) {
      best_distance = d[target.size()][c.size()];
      best = candidate;
    }
  }
  // A third of the name's length (at least one edit, at most three) is a likely typo; more is
  // a different name.
  size_t allowed = std::clamp<size_t>(target.size() / 3, 1, 3);
  return best_distance <= allowed ? best : std::string();
}

namespace {

enum class TokenType {
  kIdentifier,
  kQuotedIdentifier,
  kInteger,
  kDecimal,
  kDouble,
  kString,
  kOperator,
  kEnd
};

struct Token {
  TokenType type;
  std::string text;  // identifiers as written (unquoted), strings unescaped, operators as is
  SourcePosition position;
};

const std::vector<std::string>& reserved_words() {
  // Words that end an expression or a table reference where an alias could otherwise stand.
  static const std::vector<std::string> words = {
      "SELECT",  "FROM",      "WHERE",    "GROUP",    "HAVING",  "ORDER",   "LIMIT",   "OFFSET",
      "UNION",   "INTERSECT", "EXCEPT",   "JOIN",     "INNER",   "LEFT",    "RIGHT",   "FULL",
      "CROSS",   "OUTER",     "ON",       "USING",    "NATURAL", "AS",      "AND",     "OR",
      "NOT",     "IN",        "IS",       "LIKE",     "BETWEEN", "CASE",    "WHEN",    "THEN",
      "ELSE",    "END",       "WITH",     "BY",       "ASC",     "DESC",    "NULLS",   "FETCH",
      "VALUES",  "SET",       "INTO",     "DISTINCT", "ALL",     "EXISTS",  "NULL",    "TRUE",
      "FALSE",   "CAST",      "INTERVAL", "SEMI",     "ANTI",    "WINDOW",  "QUALIFY", "ESCAPE",
      "SIMILAR", "CREATE",    "TABLE",    "INSERT",   "DROP",    "EXPLAIN", "SHOW",    "DESCRIBE",
      "VIEW"};
  return words;
}

const std::vector<std::string>& statement_keywords() {
  static const std::vector<std::string> words = {"SELECT",   "WITH", "VALUES",  "CREATE",
                                                 "INSERT",   "DROP", "EXPLAIN", "SHOW",
                                                 "DESCRIBE", "DESC", "SET"};
  return words;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(source) {}

  std::vector<Token> tokenize() {
    std::vector<Token> tokens;
    while (true) {
      skip_space_and_comments();
      SourcePosition start = here();
      if (pos_ >= source_.size()) {
        tokens.push_back({TokenType::kEnd, "", start});
        return tokens;
      }
      char c = source_[pos_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t begin = pos_;
        while (pos_ < source_.size() && (std::isalnum(static_cast<unsigned char>(source_[pos_])) ||
                                         source_[pos_] == '_' || source_[pos_] == '$')) {
          advance();
        }
        tokens.push_back(
            {TokenType::kIdentifier, std::string(source_.substr(begin, pos_ - begin)), start});
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && pos_ + 1 < source_.size() &&
                  std::isdigit(static_cast<unsigned char>(source_[pos_ + 1])))) {
        tokens.push_back(number(start));
      } else if (c == '\'') {
        tokens.push_back({TokenType::kString, quoted('\'', start, "string literal"), start});
      } else if (c == '`' || c == '"') {
        std::string name = quoted(c, start, "quoted identifier");
        if (name.empty()) throw SqlError("syntax error: empty quoted identifier", start, source_);
        tokens.push_back({TokenType::kQuotedIdentifier, std::move(name), start});
      } else {
        tokens.push_back({TokenType::kOperator, operator_token(start), start});
      }
    }
  }

 private:
  SourcePosition here() const { return {line_, column_, pos_}; }

  void advance() {
    if (source_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }

  void skip_space_and_comments() {
    while (pos_ < source_.size()) {
      char c = source_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        advance();
      } else if (c == '-' && pos_ + 1 < source_.size() && source_[pos_ + 1] == '-') {
        while (pos_ < source_.size() && source_[pos_] != '\n') advance();
      } else if (c == '/' && pos_ + 1 < source_.size() && source_[pos_ + 1] == '*') {
        SourcePosition start = here();
        advance();
        advance();
        while (pos_ + 1 < source_.size() && !(source_[pos_] == '*' && source_[pos_ + 1] == '/')) {
          advance();
        }
        if (pos_ + 1 >= source_.size()) {
          throw SqlError("syntax error: unterminated comment", start, source_);
        }
        advance();
        advance();
      } else {
        return;
      }
    }
  }

  Token number(SourcePosition start) {
    size_t begin = pos_;
    bool has_point = false;
    bool has_exponent = false;
    while (pos_ < source_.size()) {
      char c = source_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        advance();
      } else if (c == '.' && !has_point && !has_exponent) {
        has_point = true;
        advance();
      } else if ((c == 'e' || c == 'E') && !has_exponent) {
        size_t next = pos_ + 1;
        if (next < source_.size() && (source_[next] == '+' || source_[next] == '-')) ++next;
        if (next >= source_.size() || !std::isdigit(static_cast<unsigned char>(source_[next]))) {
          break;
        }
        has_exponent = true;
        while (pos_ < next) advance();
      } else {
        break;
      }
    }
    TokenType type = has_exponent ? TokenType::kDouble
                     : has_point  ? TokenType::kDecimal
                                  : TokenType::kInteger;
    return {type, std::string(source_.substr(begin, pos_ - begin)), start};
  }

  // A quoted string or identifier; the quote character doubled stands for itself.
  std::string quoted(char quote, SourcePosition start, const char* what) {
    advance();
    std::string text;
    while (true) {
      if (pos_ >= source_.size()) {
        throw SqlError(fmt::format("syntax error: unterminated {}", what), start, source_);
      }
      char c = source_[pos_];
      advance();
      if (c == quote) {
        if (pos_ < source_.size() && source_[pos_] == quote) {
          text += quote;
          advance();
          continue;
        }
        return text;
      }
      text += c;
    }
  }

  std::string operator_token(SourcePosition start) {
    static const char* const kTwoChar[] = {"<=", ">=", "<>", "!=", "||", "::", "=>"};
    if (pos_ + 1 < source_.size()) {
      std::string_view two = source_.substr(pos_, 2);
      for (const char* op : kTwoChar) {
        if (two == op) {
          advance();
          advance();
          return std::string(two);
        }
      }
    }
    char c = source_[pos_];
    if (std::string_view("+-*/%=<>(),.;[]?").find(c) == std::string_view::npos) {
      throw SqlError(fmt::format("syntax error: unexpected character '{}'", c), start, source_);
    }
    advance();
    return std::string(1, c);
  }

  std::string_view source_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view source)
      : source_(std::make_shared<const std::string>(source)), tokens_(Lexer(*source_).tokenize()) {}

  std::vector<std::unique_ptr<Statement>> statements() {
    std::vector<std::unique_ptr<Statement>> result;
    while (true) {
      while (accept_operator(";")) {
      }
      if (peek().type == TokenType::kEnd) break;
      result.push_back(statement());
      if (peek().type != TokenType::kEnd && !is_operator(";")) {
        fail_unexpected("';' or the end of the statement");
      }
    }
    return result;
  }

  ExprPtr single_expression() {
    ExprPtr e = expression();
    if (peek().type != TokenType::kEnd) fail_unexpected("the end of the expression");
    return e;
  }

 private:
  // --- tokens ---
  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(index_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return t;
  }
  bool is_keyword(std::string_view word, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    if (t.type != TokenType::kIdentifier || t.text.size() != word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(t.text[i])) != word[i]) return false;
    }
    return true;
  }
  bool accept_keyword(std::string_view word) {
    if (!is_keyword(word)) return false;
    next();
    return true;
  }
  void expect_keyword(std::string_view word) {
    if (!accept_keyword(word)) fail_unexpected(fmt::format("'{}'", word));
  }
  bool is_operator(std::string_view op, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.type == TokenType::kOperator && t.text == op;
  }
  bool accept_operator(std::string_view op) {
    if (!is_operator(op)) return false;
    next();
    return true;
  }
  void expect_operator(std::string_view op) {
    if (!accept_operator(op)) fail_unexpected(fmt::format("'{}'", op));
  }

  std::string describe(const Token& t) const {
    switch (t.type) {
      case TokenType::kEnd:
        return "the end of the input";
      case TokenType::kString:
        return fmt::format("string '{}'", t.text);
      case TokenType::kQuotedIdentifier:
        return fmt::format("identifier `{}`", t.text);
      default:
        return fmt::format("'{}'", t.text);
    }
  }

  [[noreturn]] void fail(const std::string& message, SourcePosition position) const {
    throw SqlError(message, position, *source_);
  }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    const Token& t = peek();
    std::string message =
        fmt::format("syntax error: expected {} but found {}", expected, describe(t));
    if (t.type == TokenType::kIdentifier) {
      std::string near = nearest_name(t.text, reserved_words());
      if (!near.empty() && ascii_upper(t.text) != near) {
        message += fmt::format(" (did you mean {}?)", near);
      }
    }
    fail(message, t.position);
  }

  bool is_reserved(const Token& t) const {
    if (t.type != TokenType::kIdentifier) return false;
    std::string u = ascii_upper(t.text);
    const auto& words = reserved_words();
    return std::find(words.begin(), words.end(), u) != words.end();
  }

  std::string identifier(const char* what = "an identifier") {
    const Token& t = peek();
    if (t.type == TokenType::kQuotedIdentifier ||
        (t.type == TokenType::kIdentifier && !is_reserved(t))) {
      return next().text;
    }
    fail_unexpected(what);
  }

  // Non-reserved keywords may be names (Flink quotes reserved ones with back-quotes).
  bool at_identifier() const {
    const Token& t = peek();
    return t.type == TokenType::kQuotedIdentifier ||
           (t.type == TokenType::kIdentifier && !is_reserved(t));
  }

  // `SELECT a FORM t`: an implicit alias that looks like a misspelled clause keyword and is
  // followed by a name is a typo, not an alias.
  void misspelled_clause_check() const {
    const Token& t = peek();
    const Token& after = peek(1);
    if (t.type != TokenType::kIdentifier ||
        (after.type != TokenType::kIdentifier && after.type != TokenType::kQuotedIdentifier)) {
      return;
    }
    static const std::vector<std::string> kClauses = {"FROM",   "WHERE", "GROUP", "ORDER",
                                                      "HAVING", "LIMIT", "UNION", "JOIN"};
    std::string near = nearest_name(t.text, kClauses);
    if (!near.empty() && ascii_upper(t.text) != near) {
      fail(fmt::format("syntax error: unexpected '{}' (did you mean {}?)", t.text, near),
           t.position);
    }
  }

  std::vector<std::string> qualified_name() {
    std::vector<std::string> parts{identifier()};
    while (is_operator(".")) {
      next();
      parts.push_back(identifier());
    }
    return parts;
  }

  std::string string_literal(const char* what) {
    if (peek().type != TokenType::kString) fail_unexpected(what);
    return next().text;
  }

  int64_t integer_literal(const char* what) {
    if (peek().type != TokenType::kInteger) fail_unexpected(what);
    const Token& t = next();
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), value);
    if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
      fail(fmt::format("integer {} out of range", t.text), t.position);
    }
    return value;
  }

  // --- statements ---
  std::unique_ptr<Statement> statement() {
    SourcePosition start = peek().position;
    std::unique_ptr<Statement> s;
    if (is_keyword("SELECT") || is_keyword("WITH") || is_keyword("VALUES") || is_operator("(")) {
      s = std::make_unique<Statement>(Statement::Kind::kQuery, start);
      s->query = query();
    } else if (accept_keyword("CREATE")) {
      s = create(start);
    } else if (accept_keyword("INSERT")) {
      s = insert(start);
    } else if (accept_keyword("DROP")) {
      s = std::make_unique<Statement>(Statement::Kind::kDrop, start);
      accept_keyword("TEMPORARY");
      if (accept_keyword("TABLE")) {
        s->drop_kind = "TABLE";
      } else if (accept_keyword("VIEW")) {
        s->drop_kind = "VIEW";
      } else {
        fail_unexpected("TABLE or VIEW");
      }
      if (accept_keyword("IF")) {
        expect_keyword("EXISTS");
        s->if_exists = true;
      }
      s->name = qualified_name();
    } else if (accept_keyword("EXPLAIN")) {
      s = std::make_unique<Statement>(Statement::Kind::kExplain, start);
      // Flink's EXPLAIN [PLAN FOR] and its detail words.
      if (accept_keyword("PLAN")) expect_keyword("FOR");
      s->explained = statement();
    } else if (accept_keyword("SHOW")) {
      s = std::make_unique<Statement>(Statement::Kind::kShowTables, start);
      if (!accept_keyword("TABLES") && !accept_keyword("VIEWS")) fail_unexpected("TABLES");
    } else if (accept_keyword("DESCRIBE") || accept_keyword("DESC")) {
      s = std::make_unique<Statement>(Statement::Kind::kDescribe, start);
      s->name = qualified_name();
    } else if (accept_keyword("SET")) {
      s = std::make_unique<Statement>(Statement::Kind::kSet, start);
      std::string key = string_literal("a quoted option key");
      expect_operator("=");
      s->options.emplace_back(key, string_literal("a quoted option value"));
    } else {
      const Token& t = peek();
      std::string message =
          fmt::format("syntax error: expected a statement but found {}", describe(t));
      if (t.type == TokenType::kIdentifier) {
        std::string near = nearest_name(t.text, statement_keywords());
        if (!near.empty()) message += fmt::format(" (did you mean {}?)", near);
      }
      fail(message, t.position);
    }
    s->source = source_;
    s->end_offset = peek().position.offset;
    return s;
  }

  std::unique_ptr<Statement> create(SourcePosition start) {
    bool temporary = accept_keyword("TEMPORARY");
    if (accept_keyword("VIEW")) {
      auto s = std::make_unique<Statement>(Statement::Kind::kCreateView, start);
      s->temporary = temporary;
      if_not_exists(*s);
      s->name = qualified_name();
      if (accept_operator("(")) {
        do {
          s->insert_columns.push_back(identifier());
        } while (accept_operator(","));
        expect_operator(")");
      }
      expect_keyword("AS");
      s->query = query();
      return s;
    }
    expect_keyword("TABLE");
    auto s = std::make_unique<Statement>(Statement::Kind::kCreateTable, start);
    s->temporary = temporary;
    if_not_exists(*s);
    s->name = qualified_name();
    if (accept_operator("(")) {
      do {
        if (accept_keyword("PRIMARY")) {
          expect_keyword("KEY");
          expect_operator("(");
          do {
            s->primary_key.push_back(identifier());
          } while (accept_operator(","));
          expect_operator(")");
          not_enforced();
          continue;
        }
        ColumnDefinition column;
        column.position = peek().position;
        column.name = identifier("a column name");
        column.type = data_type();
        while (true) {
          if (accept_keyword("NOT")) {
            expect_keyword("NULL");
            column.not_null = true;
          } else if (accept_keyword("NULL")) {
          } else if (accept_keyword("PRIMARY")) {
            expect_keyword("KEY");
            not_enforced();
            s->primary_key.push_back(column.name);
          } else {
            break;
          }
        }
        s->columns.push_back(std::move(column));
      } while (accept_operator(","));
      expect_operator(")");
    }
    if (accept_keyword("WITH")) {
      expect_operator("(");
      if (!is_operator(")")) {
        do {
          std::string key = string_literal("a quoted option key");
          expect_operator("=");
          s->options.emplace_back(key, string_literal("a quoted option value"));
        } while (accept_operator(","));
      }
      expect_operator(")");
    }
    if (accept_keyword("AS")) s->query = query();
    if (s->columns.empty() && !s->query) fail_unexpected("a column list or AS SELECT");
    return s;
  }

  void if_not_exists(Statement& s) {
    if (accept_keyword("IF")) {
      expect_keyword("NOT");
      expect_keyword("EXISTS");
      s.if_not_exists = true;
    }
  }

  void not_enforced() {
    if (accept_keyword("NOT")) expect_keyword("ENFORCED");
  }

  std::unique_ptr<Statement> insert(SourcePosition start) {
    auto s = std::make_unique<Statement>(Statement::Kind::kInsert, start);
    if (accept_keyword("OVERWRITE")) {
      s->overwrite = true;
    } else {
      expect_keyword("INTO");
    }
    accept_keyword("TABLE");
    s->name = qualified_name();
    if (is_operator("(") && !is_keyword("SELECT", 1) && !is_keyword("WITH", 1) &&
        !is_keyword("VALUES", 1)) {
      next();
      do {
        s->insert_columns.push_back(identifier());
      } while (accept_operator(","));
      expect_operator(")");
    }
    s->query = query();
    return s;
  }

  // --- types ---
  int type_argument(int fallback) {
    if (!accept_operator("(")) return fallback;
    SourcePosition position = peek().position;
    int64_t value = integer_literal("a length or precision");
    if (value < 0 || value > LogicalType::kMaxLength) {
      fail(fmt::format("{} is not a valid length or precision", value), position);
    }
    expect_operator(")");
    return static_cast<int>(value);
  }

  LogicalType data_type() {
    DepthGuard guard(*this);
    SourcePosition position = peek().position;
    if (peek().type != TokenType::kIdentifier) fail_unexpected("a data type");
    std::string name = ascii_upper(next().text);
    LogicalType type;
    if (name == "BOOLEAN" || name == "BOOL") {
      type = LogicalType::boolean();
    } else if (name == "TINYINT") {
      type = LogicalType::tinyint();
    } else if (name == "SMALLINT") {
      type = LogicalType::smallint();
    } else if (name == "INT" || name == "INTEGER") {
      type = LogicalType::integer();
    } else if (name == "BIGINT") {
      type = LogicalType::bigint();
    } else if (name == "FLOAT" || name == "REAL") {
      type = LogicalType::float_type();
    } else if (name == "DOUBLE") {
      accept_keyword("PRECISION");
      type = LogicalType::double_type();
    } else if (name == "DECIMAL" || name == "DEC" || name == "NUMERIC") {
      int precision = 10;
      int scale = 0;
      if (accept_operator("(")) {
        precision = static_cast<int>(integer_literal("a precision"));
        if (accept_operator(",")) scale = static_cast<int>(integer_literal("a scale"));
        expect_operator(")");
      }
      if (precision < 1 || precision > LogicalType::kMaxDecimalPrecision || scale < 0 ||
          scale > precision) {
        fail(fmt::format("DECIMAL({}, {}) is not a valid decimal type: precision must be 1 to 38 "
                         "and scale 0 to the precision",
                         precision, scale),
             position);
      }
      type = LogicalType::decimal(precision, scale);
    } else if (name == "CHAR" || name == "CHARACTER") {
      if (accept_keyword("VARYING")) {
        type = LogicalType::varchar(type_argument(LogicalType::kMaxLength));
      } else {
        type = LogicalType::char_type(type_argument(1));
      }
    } else if (name == "VARCHAR") {
      type = LogicalType::varchar(type_argument(LogicalType::kMaxLength));
    } else if (name == "STRING" || name == "TEXT") {
      type = LogicalType::string();
    } else if (name == "BYTES" || name == "VARBINARY" || name == "BINARY" || name == "BLOB") {
      type_argument(0);
      type = LogicalType::bytes();
    } else if (name == "DATE") {
      type = LogicalType::date();
    } else if (name == "TIME") {
      type = LogicalType::time(type_argument(0));
      if (accept_keyword("WITHOUT")) {
        expect_keyword("TIME");
        expect_keyword("ZONE");
      }
    } else if (name == "TIMESTAMP") {
      int precision = type_argument(6);
      if (accept_keyword("WITH")) {
        expect_keyword("LOCAL");
        expect_keyword("TIME");
        expect_keyword("ZONE");
        type = LogicalType::timestamp_ltz(precision);
      } else {
        if (accept_keyword("WITHOUT")) {
          expect_keyword("TIME");
          expect_keyword("ZONE");
        }
        type = LogicalType::timestamp(precision);
      }
    } else if (name == "TIMESTAMP_LTZ") {
      type = LogicalType::timestamp_ltz(type_argument(6));
    } else if (name == "ARRAY") {
      expect_operator("<");
      LogicalType element = data_type();
      expect_operator(">");
      type = LogicalType::array(std::move(element));
    } else if (name == "MAP") {
      expect_operator("<");
      LogicalType key = data_type();
      expect_operator(",");
      LogicalType value = data_type();
      expect_operator(">");
      type = LogicalType::map(std::move(key), std::move(value));
    } else if (name == "ROW") {
      bool angle = accept_operator("<");
      if (!angle) expect_operator("(");
      std::vector<std::string> names;
      std::vector<LogicalType> fields;
      do {
        names.push_back(identifier("a field name"));
        fields.push_back(data_type());
      } while (accept_operator(","));
      expect_operator(angle ? ">" : ")");
      type = LogicalType::row(std::move(names), std::move(fields));
    } else if (name == "INTERVAL") {
      std::string unit = ascii_upper(identifier("an interval unit"));
      type = unit == "YEAR" || unit == "MONTH" ? LogicalType::interval_year_month()
                                               : LogicalType::interval_day_time();
      type_argument(0);
      if (accept_keyword("TO")) identifier("an interval unit");
    } else {
      static const std::vector<std::string> kTypeNames = {
          "BOOLEAN", "TINYINT",   "SMALLINT",      "INT",     "INTEGER", "BIGINT", "FLOAT",
          "DOUBLE",  "DECIMAL",   "CHAR",          "VARCHAR", "STRING",  "BYTES",  "DATE",
          "TIME",    "TIMESTAMP", "TIMESTAMP_LTZ", "ARRAY",   "MAP",     "ROW",    "INTERVAL"};
      std::string message = fmt::format("unknown data type '{}'", name);
      std::string near = nearest_name(name, kTypeNames);
      if (!near.empty()) message += fmt::format(" (did you mean {}?)", near);
      fail(message, position);
    }
    return type;
  }

  // --- queries ---
  std::unique_ptr<QueryNode> query() {
    DepthGuard guard(*this);
    SourcePosition start = peek().position;
    std::vector<CommonTableExpr> with;
    if (accept_keyword("WITH")) {
      if (accept_keyword("RECURSIVE")) fail("WITH RECURSIVE is not supported", start);
      do {
        CommonTableExpr cte;
        cte.position = peek().position;
        cte.name = identifier("a common table expression name");
        if (accept_operator("(")) {
          do {
            cte.column_aliases.push_back(identifier());
          } while (accept_operator(","));
          expect_operator(")");
        }
        expect_keyword("AS");
        expect_operator("(");
        cte.query = query();
        expect_operator(")");
        with.push_back(std::move(cte));
      } while (accept_operator(","));
    }
    std::unique_ptr<QueryNode> node = set_operation();
    if (!with.empty()) {
      if (!node->with.empty() || !node->order_by.empty() || node->limit) {
        // WITH applies to the whole query: wrap so the inner query's own clauses stay its own.
        auto outer = std::make_unique<QueryNode>();
        outer->position = start;
        outer->kind = QueryNode::Kind::kSelect;
        outer->select_list.push_back({star_expr(start), ""});
        auto ref = std::make_unique<TableRef>(TableRef::Kind::kSubquery, start);
        ref->subquery = std::move(node);
        ref->alias = "$with";
        outer->from = std::move(ref);
        node = std::move(outer);
      }
      node->with = std::move(with);
    }
    order_limit(*node);
    return node;
  }

  ExprPtr star_expr(SourcePosition position) {
    return std::make_unique<ParsedExpr>(ExprKind::kStar, position);
  }

  void order_limit(QueryNode& node) {
    if (is_keyword("ORDER")) {
      if (!node.order_by.empty() || node.limit) {
        wrap_for_clauses(node);
      }
      next();
      expect_keyword("BY");
      do {
        node.order_by.push_back(order_item());
      } while (accept_operator(","));
    }
    if (accept_keyword("LIMIT")) {
      if (node.limit) fail("a query has one LIMIT", peek().position);
      if (!accept_keyword("ALL")) node.limit = expression();
    }
    if (accept_keyword("OFFSET")) {
      node.offset = expression();
      if (!accept_keyword("ROWS")) accept_keyword("ROW");
    }
    if (accept_keyword("FETCH")) {
      if (!accept_keyword("FIRST")) expect_keyword("NEXT");
      node.limit = is_keyword("ROW") || is_keyword("ROWS") ? nullptr : expression();
      if (!node.limit) {
        auto one = std::make_unique<ParsedExpr>(ExprKind::kLiteral, peek().position);
        one->literal_kind = LiteralKind::kInteger;
        one->text = "1";
        node.limit = std::move(one);
      }
      if (!accept_keyword("ROWS")) expect_keyword("ROW");
      expect_keyword("ONLY");
    }
  }

  // (q ORDER BY a LIMIT 1) ORDER BY b: the outer clauses apply to the inner query's result.
  void wrap_for_clauses(QueryNode& node) {
    auto inner = std::make_unique<QueryNode>(std::move(node));
    node = QueryNode();
    node.kind = QueryNode::Kind::kSelect;
    node.position = inner->position;
    node.select_list.push_back({star_expr(inner->position), ""});
    auto ref = std::make_unique<TableRef>(TableRef::Kind::kSubquery, inner->position);
    ref->alias = "$ordered";
    ref->subquery = std::move(inner);
    node.from = std::move(ref);
  }

  std::unique_ptr<QueryNode> set_operation() {
    std::unique_ptr<QueryNode> left = intersect_term();
    while (is_keyword("UNION") || is_keyword("EXCEPT") || is_keyword("MINUS")) {
      SourcePosition position = peek().position;
      std::string op = ascii_upper(next().text);
      left = make_set_operation(
          std::move(left), op == "UNION" ? QueryNode::SetOp::kUnion : QueryNode::SetOp::kExcept,
          position, /*right=*/nullptr);
    }
    return left;
  }

  std::unique_ptr<QueryNode> intersect_term() {
    std::unique_ptr<QueryNode> left = query_primary();
    while (is_keyword("INTERSECT")) {
      SourcePosition position = next().position;
      left = make_set_operation(std::move(left), QueryNode::SetOp::kIntersect, position,
                                /*right=*/nullptr);
    }
    return left;
  }

  // After the operator word: [ALL | DISTINCT] and the right operand (INTERSECT binds tighter).
  std::unique_ptr<QueryNode> make_set_operation(std::unique_ptr<QueryNode> left,
                                                QueryNode::SetOp op, SourcePosition position,
                                                std::unique_ptr<QueryNode>) {
    auto node = std::make_unique<QueryNode>();
    node->kind = QueryNode::Kind::kSetOperation;
    node->position = position;
    node->set_op = op;
    node->set_all = accept_keyword("ALL");
    if (!node->set_all) accept_keyword("DISTINCT");
    node->left = std::move(left);
    node->right = op == QueryNode::SetOp::kIntersect ? query_primary() : intersect_term();
    return node;
  }

  std::unique_ptr<QueryNode> query_primary() {
    SourcePosition start = peek().position;
    if (accept_operator("(")) {
      std::unique_ptr<QueryNode> inner = query();
      expect_operator(")");
      return inner;
    }
    if (accept_keyword("VALUES")) {
      auto node = std::make_unique<QueryNode>();
      node->kind = QueryNode::Kind::kValues;
      node->position = start;
      do {
        expect_operator("(");
        std::vector<ExprPtr> row;
        do {
          row.push_back(expression());
        } while (accept_operator(","));
        expect_operator(")");
        node->values.push_back(std::move(row));
      } while (accept_operator(","));
      return node;
    }
    if (!is_keyword("SELECT")) fail_unexpected("SELECT, VALUES or '('");
    next();
    auto node = std::make_unique<QueryNode>();
    node->position = start;
    if (accept_keyword("DISTINCT")) {
      node->distinct = true;
    } else {
      accept_keyword("ALL");
    }
    do {
      SelectItem item;
      item.expr = expression();
      if (accept_keyword("AS")) {
        item.alias = identifier("an alias");
      } else if (at_identifier()) {
        misspelled_clause_check();
        item.alias = identifier();
      }
      node->select_list.push_back(std::move(item));
    } while (accept_operator(","));
    if (accept_keyword("FROM")) {
      node->from = table_reference();
      while (accept_operator(",")) {
        auto join = std::make_unique<TableRef>(TableRef::Kind::kJoin, peek().position);
        join->join_kind = JoinKind::kCross;
        join->left = std::move(node->from);
        join->right = table_primary();
        node->from = std::move(join);
      }
    }
    if (accept_keyword("WHERE")) node->where = expression();
    if (accept_keyword("GROUP")) {
      expect_keyword("BY");
      group_by(*node);
    }
    if (accept_keyword("HAVING")) node->having = expression();
    return node;
  }

  // GROUP BY elements: expressions, GROUPING SETS (...), ROLLUP (...), CUBE (...) and (). With
  // any of the latter, the query's grouping sets are the cross product of its elements' sets.
  void group_by(QueryNode& node) {
    std::vector<std::vector<std::vector<size_t>>> elements;  // per element: its sets
    bool sets = false;
    auto key = [&](ExprPtr e) {
      std::string text = e->to_string();
      for (size_t i = 0; i < node.group_by.size(); ++i) {
        if (node.group_by[i]->to_string() == text) return i;
      }
      node.group_by.push_back(std::move(e));
      return node.group_by.size() - 1;
    };
    // `(a, b)`, `()` or `a`: one set.
    auto one_set = [&]() {
      std::vector<size_t> set;
      if (accept_operator("(")) {
        if (!is_operator(")")) {
          do {
            set.push_back(key(expression()));
          } while (accept_operator(","));
        }
        expect_operator(")");
      } else {
        set.push_back(key(expression()));
      }
      return set;
    };
    // `(set, set, ...)`
    auto set_list = [&]() {
      std::vector<std::vector<size_t>> list;
      expect_operator("(");
      do {
        list.push_back(one_set());
      } while (accept_operator(","));
      expect_operator(")");
      return list;
    };
    do {
      if (is_keyword("GROUPING") && is_keyword("SETS", 1)) {
        next();
        next();
        sets = true;
        elements.push_back(set_list());
      } else if ((is_keyword("ROLLUP") || is_keyword("CUBE")) && is_operator("(", 1)) {
        bool cube = is_keyword("CUBE");
        SourcePosition position = next().position;
        sets = true;
        std::vector<std::vector<size_t>> columns = set_list();
        if (cube && columns.size() > 12) fail("CUBE takes at most 12 elements", position);
        std::vector<std::vector<size_t>> list;
        if (cube) {
          // Every subset, the largest first.
          size_t n = columns.size();
          for (size_t mask = (size_t{1} << n); mask-- > 0;) {
            std::vector<size_t> set;
            for (size_t i = 0; i < n; ++i) {
              if (mask >> (n - 1 - i) & 1)
                set.insert(set.end(), columns[i].begin(), columns[i].end());
            }
            list.push_back(std::move(set));
          }
        } else {
          // Every prefix, the longest first.
          for (size_t n = columns.size() + 1; n-- > 0;) {
            std::vector<size_t> set;
            for (size_t i = 0; i < n; ++i)
              set.insert(set.end(), columns[i].begin(), columns[i].end());
            list.push_back(std::move(set));
          }
        }
        elements.push_back(std::move(list));
      } else if (is_operator("(") && is_operator(")", 1)) {
        next();
        next();
        sets = true;
        elements.push_back({{}});
      } else {
        elements.push_back({{key(expression())}});
      }
    } while (accept_operator(","));
    if (!sets) return;
    std::vector<std::vector<size_t>> product{{}};
    for (const auto& element : elements) {
      if (product.size() * element.size() > 4096) {
        fail("GROUP BY makes more than 4096 grouping sets", peek().position);
      }
      std::vector<std::vector<size_t>> next_product;
      for (const auto& left : product) {
        for (const auto& right : element) {
          std::vector<size_t> set = left;
          set.insert(set.end(), right.begin(), right.end());
          std::sort(set.begin(), set.end());
          set.erase(std::unique(set.begin(), set.end()), set.end());
          next_product.push_back(std::move(set));
        }
      }
      product = std::move(next_product);
    }
    node.grouping_sets = std::move(product);
  }

  std::unique_ptr<TableRef> table_reference() {
    std::unique_ptr<TableRef> left = table_primary();
    while (true) {
      SourcePosition position = peek().position;
      JoinKind kind;
      bool natural = accept_keyword("NATURAL");
      if (accept_keyword("CROSS")) {
        expect_keyword("JOIN");
        kind = JoinKind::kCross;
      } else if (accept_keyword("JOIN")) {
        kind = JoinKind::kInner;
      } else if (accept_keyword("INNER")) {
        expect_keyword("JOIN");
        kind = JoinKind::kInner;
      } else if (accept_keyword("LEFT")) {
        kind = JoinKind::kLeft;
        if (accept_keyword("SEMI")) {
          kind = JoinKind::kSemi;
        } else if (accept_keyword("ANTI")) {
          kind = JoinKind::kAnti;
        } else {
          accept_keyword("OUTER");
        }
        expect_keyword("JOIN");
      } else if (accept_keyword("RIGHT")) {
        accept_keyword("OUTER");
        expect_keyword("JOIN");
        kind = JoinKind::kRight;
      } else if (accept_keyword("FULL")) {
        accept_keyword("OUTER");
        expect_keyword("JOIN");
        kind = JoinKind::kFull;
      } else {
        if (natural) fail_unexpected("JOIN");
        return left;
      }
      auto join = std::make_unique<TableRef>(TableRef::Kind::kJoin, position);
      join->join_kind = kind;
      join->natural = natural;
      join->left = std::move(left);
      join->right = table_primary();
      if (kind != JoinKind::kCross && !natural) {
        if (accept_keyword("ON")) {
          join->condition = expression();
        } else if (accept_keyword("USING")) {
          expect_operator("(");
          do {
            join->using_columns.push_back(identifier());
          } while (accept_operator(","));
          expect_operator(")");
        } else {
          fail_unexpected("ON or USING");
        }
      }
      left = std::move(join);
    }
  }

  std::unique_ptr<TableRef> table_primary() {
    DepthGuard guard(*this);
    SourcePosition start = peek().position;
    std::unique_ptr<TableRef> ref;
    if (accept_operator("(")) {
      if (is_keyword("SELECT") || is_keyword("WITH") || is_keyword("VALUES") || is_operator("(")) {
        ref = std::make_unique<TableRef>(TableRef::Kind::kSubquery, start);
        ref->subquery = query();
        expect_operator(")");
      } else {
        ref = table_reference();
        expect_operator(")");
        return ref;
      }
    } else if (is_keyword("LATERAL") || is_keyword("UNNEST") ||
               (is_keyword("TABLE") && is_operator("(", 1))) {
      fail(fmt::format("{} in FROM is not supported yet", ascii_upper(peek().text)), start);
    } else {
      ref = std::make_unique<TableRef>(TableRef::Kind::kTable, start);
      ref->name = qualified_name();
    }
    if (accept_keyword("AS")) {
      ref->alias = identifier("an alias");
    } else if (at_identifier()) {
      ref->alias = identifier();
    }
    if (!ref->alias.empty() && accept_operator("(")) {
      do {
        ref->column_aliases.push_back(identifier());
      } while (accept_operator(","));
      expect_operator(")");
    }
    return ref;
  }

  // --- expressions, lowest precedence first ---
  // Nesting (parentheses, subqueries, CASE, function arguments) is bounded so that hostile input
  // fails with an error instead of exhausting the stack.
  static constexpr int kMaxDepth = 256;
  struct DepthGuard {
    Parser& parser;
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) {
        --parser.depth_;
        parser.fail(fmt::format("the statement is nested more than {} levels deep", kMaxDepth),
                    parser.peek().position);
      }
    }
    ~DepthGuard() { --parser.depth_; }
  };

  ExprPtr expression() {
    DepthGuard guard(*this);
    return or_expr();
  }

  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, SourcePosition position) {
    // Chains like 1 + 1 + ... + 1 are built by loops, not recursion: bound their height here,
    // for the recursive passes that follow.
    int height = std::max(left->height, right->height) + 1;
    if (height > 2 * kMaxDepth) {
      fail(fmt::format("the expression is nested more than {} levels deep", 2 * kMaxDepth),
           position);
    }
    auto e = std::make_unique<ParsedExpr>(ExprKind::kBinary, position);
    e->height = height;
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr or_expr() {
    ExprPtr left = and_expr();
    while (is_keyword("OR")) {
      SourcePosition p = next().position;
      left = binary("OR", std::move(left), and_expr(), p);
    }
    return left;
  }

  ExprPtr and_expr() {
    ExprPtr left = not_expr();
    while (is_keyword("AND")) {
      SourcePosition p = next().position;
      left = binary("AND", std::move(left), not_expr(), p);
    }
    return left;
  }

  ExprPtr not_expr() {
    DepthGuard guard(*this);
    if (is_keyword("NOT") && !is_keyword("EXISTS", 1)) {
      SourcePosition p = next().position;
      auto e = std::make_unique<ParsedExpr>(ExprKind::kUnary, p);
      e->name = "NOT";
      e->children.push_back(not_expr());
      return e;
    }
    return comparison();
  }

  ExprPtr comparison() {
    ExprPtr left = concat_or_additive();
    while (true) {
      SourcePosition p = peek().position;
      const Token& t = peek();
      if (t.type == TokenType::kOperator &&
          (t.text == "=" || t.text == "<>" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
           t.text == ">" || t.text == ">=")) {
        std::string op = next().text;
        if (op == "!=") op = "<>";
        left = binary(op, std::move(left), concat_or_additive(), p);
        continue;
      }
      if (is_keyword("IS")) {
        next();
        bool negated = accept_keyword("NOT");
        if (accept_keyword("NULL")) {
          auto e = std::make_unique<ParsedExpr>(ExprKind::kIsNull, p);
          e->negated = negated;
          e->children.push_back(std::move(left));
          left = std::move(e);
        } else if (accept_keyword("DISTINCT")) {
          expect_keyword("FROM");
          auto e = std::make_unique<ParsedExpr>(ExprKind::kIsDistinctFrom, p);
          e->negated = negated;
          e->children.push_back(std::move(left));
          e->children.push_back(concat_or_additive());
          left = std::move(e);
        } else if (is_keyword("TRUE") || is_keyword("FALSE") || is_keyword("UNKNOWN")) {
          std::string what = ascii_upper(next().text);
          if (what == "UNKNOWN") {
            auto e = std::make_unique<ParsedExpr>(ExprKind::kIsNull, p);
            e->negated = negated;
            e->children.push_back(std::move(left));
            left = std::move(e);
          } else {
            auto e = std::make_unique<ParsedExpr>(ExprKind::kIsTrue, p);
            e->name = what;
            e->negated = negated;
            e->children.push_back(std::move(left));
            left = std::move(e);
          }
        } else {
          fail_unexpected("NULL, DISTINCT FROM, TRUE, FALSE or UNKNOWN");
        }
        continue;
      }
      bool negated = false;
      if (is_keyword("NOT") &&
          (is_keyword("IN", 1) || is_keyword("LIKE", 1) || is_keyword("BETWEEN", 1) ||
           is_keyword("SIMILAR", 1) || is_keyword("ILIKE", 1))) {
        next();
        negated = true;
      }
      if (accept_keyword("IN")) {
        expect_operator("(");
        if (is_keyword("SELECT") || is_keyword("WITH") || is_keyword("VALUES")) {
          auto e = std::make_unique<ParsedExpr>(ExprKind::kInSubquery, p);
          e->negated = negated;
          e->children.push_back(std::move(left));
          e->subquery = query();
          left = std::move(e);
        } else {
          auto e = std::make_unique<ParsedExpr>(ExprKind::kInList, p);
          e->negated = negated;
          e->children.push_back(std::move(left));
          do {
            e->children.push_back(expression());
          } while (accept_operator(","));
          left = std::move(e);
        }
        expect_operator(")");
      } else if (is_keyword("LIKE") || is_keyword("ILIKE")) {
        bool case_insensitive = ascii_upper(next().text) == "ILIKE";
        auto e = std::make_unique<ParsedExpr>(ExprKind::kLike, p);
        e->negated = negated;
        e->name = case_insensitive ? "ILIKE" : "LIKE";
        e->children.push_back(std::move(left));
        e->children.push_back(concat_or_additive());
        if (accept_keyword("ESCAPE")) e->children.push_back(concat_or_additive());
        left = std::move(e);
      } else if (accept_keyword("BETWEEN")) {
        if (!accept_keyword("ASYMMETRIC") && is_keyword("SYMMETRIC")) {
          fail("BETWEEN SYMMETRIC is not supported", peek().position);
        }
        auto e = std::make_unique<ParsedExpr>(ExprKind::kBetween, p);
        e->negated = negated;
        e->children.push_back(std::move(left));
        e->children.push_back(concat_or_additive());
        expect_keyword("AND");
        e->children.push_back(concat_or_additive());
        left = std::move(e);
      } else if (negated) {
        fail_unexpected("IN, LIKE or BETWEEN");
      } else {
        return left;
      }
    }
  }

  ExprPtr concat_or_additive() {
    ExprPtr left = multiplicative();
    while (is_operator("+") || is_operator("-")) {
      SourcePosition p = peek().position;
      std::string op = next().text;
      left = binary(op, std::move(left), multiplicative(), p);
    }
    return left;
  }

  // `||` binds as tightly as `*`, `/` and `%` (Calcite's precedence, so Flink's; PostgreSQL and
  // DuckDB put it below `+` and `-`, Spark beside them).
  ExprPtr multiplicative() {
    ExprPtr left = unary();
    while (is_operator("*") || is_operator("/") || is_operator("%") || is_operator("||")) {
      SourcePosition p = peek().position;
      std::string op = next().text;
      left = binary(op, std::move(left), unary(), p);
    }
    return left;
  }

  ExprPtr unary() {
    DepthGuard guard(*this);
    if (is_operator("-") || is_operator("+")) {
      SourcePosition p = peek().position;
      std::string op = next().text;
      ExprPtr operand = unary();
      // Fold the sign into a numeric literal so that -2147483648 is an INT, as in Flink.
      if (op == "-" && operand->kind == ExprKind::kLiteral &&
          (operand->literal_kind == LiteralKind::kInteger ||
           operand->literal_kind == LiteralKind::kDecimal ||
           operand->literal_kind == LiteralKind::kDouble) &&
          operand->text[0] != '-') {
        operand->text = "-" + operand->text;
        operand->position = p;
        return operand;
      }
      if (op == "+") return operand;
      auto e = std::make_unique<ParsedExpr>(ExprKind::kUnary, p);
      e->name = op;
      e->children.push_back(std::move(operand));
      return e;
    }
    return postfix();
  }

  ExprPtr postfix() {
    ExprPtr e = primary();
    while (true) {
      if (is_operator("::")) {
        SourcePosition p = next().position;
        auto cast = std::make_unique<ParsedExpr>(ExprKind::kCast, p);
        cast->children.push_back(std::move(e));
        cast->cast_type = data_type();
        e = std::move(cast);
      } else if (is_operator("[")) {
        SourcePosition p = next().position;
        auto call = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
        call->name = "ELEMENT_AT";
        call->children.push_back(std::move(e));
        call->children.push_back(expression());
        expect_operator("]");
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  ExprPtr literal(LiteralKind kind, std::string text, SourcePosition p) {
    auto e = std::make_unique<ParsedExpr>(ExprKind::kLiteral, p);
    e->literal_kind = kind;
    e->text = std::move(text);
    return e;
  }

  ExprPtr primary() {
    const Token& t = peek();
    SourcePosition p = t.position;
    switch (t.type) {
      case TokenType::kInteger:
        return literal(LiteralKind::kInteger, next().text, p);
      case TokenType::kDecimal:
        return literal(LiteralKind::kDecimal, next().text, p);
      case TokenType::kDouble:
        return literal(LiteralKind::kDouble, next().text, p);
      case TokenType::kString:
        return literal(LiteralKind::kString, next().text, p);
      case TokenType::kQuotedIdentifier:
        return column_or_function();
      case TokenType::kEnd:
        fail_unexpected("an expression");
      case TokenType::kOperator:
        if (t.text == "(") {
          next();
          if (is_keyword("SELECT") || is_keyword("WITH") || is_keyword("VALUES")) {
            auto e = std::make_unique<ParsedExpr>(ExprKind::kScalarSubquery, p);
            e->subquery = query();
            expect_operator(")");
            return e;
          }
          ExprPtr inner = expression();
          if (is_operator(",")) {
            // (a, b): a ROW constructor, as Calcite reads it.
            auto row = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
            row->name = "ROW";
            row->children.push_back(std::move(inner));
            while (accept_operator(",")) row->children.push_back(expression());
            expect_operator(")");
            return row;
          }
          expect_operator(")");
          return inner;
        }
        if (t.text == "*") {
          next();
          return star_expr(p);
        }
        fail_unexpected("an expression");
      case TokenType::kIdentifier:
        break;
    }
    std::string word = ascii_upper(t.text);
    if (word == "NULL") {
      next();
      return literal(LiteralKind::kNull, "", p);
    }
    if (word == "TRUE" || word == "FALSE") {
      next();
      return literal(LiteralKind::kBoolean, word, p);
    }
    if (word == "CASE") return case_expr();
    if (word == "CAST" || word == "TRY_CAST") {
      next();
      expect_operator("(");
      auto e = std::make_unique<ParsedExpr>(ExprKind::kCast, p);
      e->try_cast = word == "TRY_CAST";
      e->children.push_back(expression());
      expect_keyword("AS");
      e->cast_type = data_type();
      expect_operator(")");
      return e;
    }
    if (word == "EXISTS") {
      next();
      expect_operator("(");
      auto e = std::make_unique<ParsedExpr>(ExprKind::kExists, p);
      e->subquery = query();
      expect_operator(")");
      return e;
    }
    if (word == "NOT" && is_keyword("EXISTS", 1)) {
      next();
      ExprPtr e = primary();
      e->negated = !e->negated;
      return e;
    }
    if (word == "INTERVAL") return interval();
    if ((word == "DATE" || word == "TIME" || word == "TIMESTAMP" || word == "TIMESTAMP_LTZ") &&
        peek(1).type == TokenType::kString) {
      next();
      auto e = std::make_unique<ParsedExpr>(ExprKind::kTypedLiteral, p);
      e->cast_type = word == "DATE"        ? LogicalType::date()
                     : word == "TIME"      ? LogicalType::time(0)
                     : word == "TIMESTAMP" ? LogicalType::timestamp(6)
                                           : LogicalType::timestamp_ltz(6);
      e->text = next().text;
      return e;
    }
    if (word == "EXTRACT" && is_operator("(", 1)) {
      next();
      next();
      auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
      e->name = "EXTRACT";
      e->children.push_back(
          literal(LiteralKind::kString, ascii_upper(identifier("a time unit")), p));
      expect_keyword("FROM");
      e->children.push_back(expression());
      expect_operator(")");
      return e;
    }
    if (word == "POSITION" && is_operator("(", 1)) {
      next();
      next();
      auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
      e->name = "POSITION";
      e->children.push_back(concat_or_additive());
      expect_keyword("IN");
      e->children.push_back(expression());
      expect_operator(")");
      return e;
    }
    if ((word == "SUBSTRING" || word == "SUBSTR") && is_operator("(", 1)) {
      next();
      next();
      auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
      e->name = "SUBSTRING";
      e->children.push_back(expression());
      if (accept_keyword("FROM") || accept_operator(",")) {
        e->children.push_back(expression());
        if (accept_keyword("FOR") || accept_operator(",")) e->children.push_back(expression());
      }
      expect_operator(")");
      return e;
    }
    if (word == "TRIM" && is_operator("(", 1)) return trim();
    if (word == "CURRENT_DATE" || word == "CURRENT_TIMESTAMP" || word == "LOCALTIMESTAMP" ||
        word == "CURRENT_TIME" || word == "LOCALTIME") {
      if (!is_operator("(", 1)) {
        next();
        auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
        e->name = word;
        return e;
      }
    }
    if (is_reserved(t)) fail_unexpected("an expression");
    return column_or_function();
  }

  ExprPtr column_or_function() {
    SourcePosition p = peek().position;
    std::vector<std::string> parts{identifier()};
    while (is_operator(".")) {
      next();
      if (is_operator("*")) {
        next();
        auto star = star_expr(p);
        star->qualifier = std::move(parts);
        return star;
      }
      parts.push_back(identifier());
    }
    if (parts.size() == 1 && is_operator("(")) {
      next();
      auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
      e->name = parts[0];
      if (accept_operator("*")) {
        e->star = true;
      } else if (!is_operator(")")) {
        if (accept_keyword("DISTINCT")) {
          e->distinct = true;
        } else {
          accept_keyword("ALL");
        }
        do {
          e->children.push_back(expression());
        } while (accept_operator(","));
      }
      expect_operator(")");
      if (accept_keyword("FILTER")) {
        expect_operator("(");
        expect_keyword("WHERE");
        e->filter = expression();
        expect_operator(")");
      }
      if (accept_keyword("OVER")) e->window = window_spec();
      return e;
    }
    auto e = std::make_unique<ParsedExpr>(ExprKind::kColumn, p);
    e->name = parts.back();
    parts.pop_back();
    e->qualifier = std::move(parts);
    return e;
  }

  // expr [ASC | DESC] [NULLS FIRST | LAST]
  OrderItem order_item() {
    OrderItem item;
    item.expr = expression();
    if (accept_keyword("DESC")) {
      item.descending = true;
    } else {
      accept_keyword("ASC");
    }
    if (accept_keyword("NULLS")) {
      if (accept_keyword("FIRST")) {
        item.nulls_first = true;
      } else {
        expect_keyword("LAST");
        item.nulls_first = false;
      }
    }
    return item;
  }

  std::unique_ptr<WindowSpec> window_spec() {
    auto w = std::make_unique<WindowSpec>();
    expect_operator("(");
    if (accept_keyword("PARTITION")) {
      expect_keyword("BY");
      do {
        w->partition_by.push_back(expression());
      } while (accept_operator(","));
    }
    if (accept_keyword("ORDER")) {
      expect_keyword("BY");
      do {
        w->order_by.push_back(order_item());
      } while (accept_operator(","));
    }
    if (is_keyword("ROWS") || is_keyword("RANGE")) {
      w->has_frame = true;
      w->rows = ascii_upper(next().text) == "ROWS";
      if (accept_keyword("BETWEEN")) {
        w->start = frame_bound(w->rows);
        expect_keyword("AND");
        w->end = frame_bound(w->rows);
      } else {
        w->start = frame_bound(w->rows);
        w->end = FrameBound{};
      }
    }
    expect_operator(")");
    return w;
  }

  FrameBound frame_bound(bool rows) {
    FrameBound b;
    if (accept_keyword("UNBOUNDED")) {
      if (accept_keyword("PRECEDING")) {
        b.kind = FrameBound::Kind::kUnboundedPreceding;
      } else {
        expect_keyword("FOLLOWING");
        b.kind = FrameBound::Kind::kUnboundedFollowing;
      }
    } else if (accept_keyword("CURRENT")) {
      expect_keyword("ROW");
      b.kind = FrameBound::Kind::kCurrentRow;
    } else {
      b.kind = FrameBound::Kind::kOffset;
      int64_t n = 1;
      if (rows) {
        n = integer_literal("a frame offset, UNBOUNDED or CURRENT ROW");
      } else {
        b.range_value = expression();
      }
      if (accept_keyword("PRECEDING")) {
        b.offset = -n;
      } else {
        expect_keyword("FOLLOWING");
        b.offset = n;
      }
    }
    return b;
  }

  ExprPtr case_expr() {
    SourcePosition p = next().position;
    auto e = std::make_unique<ParsedExpr>(ExprKind::kCase, p);
    if (!is_keyword("WHEN")) {
      e->has_operand = true;
      e->children.push_back(expression());
    }
    if (!is_keyword("WHEN")) fail_unexpected("WHEN");
    while (accept_keyword("WHEN")) {
      e->children.push_back(expression());
      expect_keyword("THEN");
      e->children.push_back(expression());
    }
    if (accept_keyword("ELSE")) {
      e->has_else = true;
      e->children.push_back(expression());
    }
    expect_keyword("END");
    return e;
  }

  ExprPtr interval() {
    SourcePosition p = next().position;
    auto e = std::make_unique<ParsedExpr>(ExprKind::kInterval, p);
    bool negative = accept_operator("-");
    if (peek().type == TokenType::kString) {
      e->text = next().text;
    } else if (peek().type == TokenType::kInteger) {
      e->text = next().text;  // INTERVAL 5 DAY, as PostgreSQL and DuckDB also accept
    } else {
      fail_unexpected("a quoted interval value");
    }
    if (negative) e->text = "-" + e->text;
    static const std::vector<std::string> kUnits = {"YEAR",   "MONTH",  "DAY",  "HOUR",
                                                    "MINUTE", "SECOND", "WEEK", "QUARTER"};
    if (peek().type != TokenType::kIdentifier) fail_unexpected("an interval unit");
    std::string unit = ascii_upper(peek().text);
    if (unit.size() > 1 && unit.back() == 'S' &&
        std::find(kUnits.begin(), kUnits.end(), unit.substr(0, unit.size() - 1)) != kUnits.end()) {
      unit.pop_back();
    }
    if (std::find(kUnits.begin(), kUnits.end(), unit) == kUnits.end()) {
      fail_unexpected("an interval unit (YEAR, MONTH, DAY, HOUR, MINUTE or SECOND)");
    }
    next();
    type_argument(0);  // the leading field precision, e.g. DAY(3)
    if (accept_keyword("TO")) {
      std::string to = ascii_upper(identifier("an interval unit"));
      type_argument(0);
      unit += " TO " + to;
    }
    e->name = unit;
    return e;
  }

  ExprPtr trim() {
    SourcePosition p = next().position;
    next();
    auto e = std::make_unique<ParsedExpr>(ExprKind::kFunction, p);
    std::string mode = "BOTH";
    if (is_keyword("BOTH") || is_keyword("LEADING") || is_keyword("TRAILING")) {
      mode = ascii_upper(next().text);
    }
    ExprPtr characters;
    ExprPtr value;
    if (accept_keyword("FROM")) {
      value = expression();
    } else {
      ExprPtr first = expression();
      if (accept_keyword("FROM")) {
        characters = std::move(first);
        value = expression();
      } else {
        value = std::move(first);
      }
    }
    expect_operator(")");
    e->name = mode == "BOTH" ? "TRIM" : mode == "LEADING" ? "LTRIM" : "RTRIM";
    e->children.push_back(std::move(value));
    if (characters) e->children.push_back(std::move(characters));
    return e;
  }

  std::shared_ptr<const std::string> source_;
  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<Statement>> parse_sql(std::string_view sql) {
  return Parser(sql).statements();
}

ExprPtr parse_expression(std::string_view sql) { return Parser(sql).single_expression(); }

std::string ParsedExpr::to_string() const {
  auto child = [&](size_t i) { return children[i]->to_string(); };
  switch (kind) {
    case ExprKind::kLiteral:
      switch (literal_kind) {
        case LiteralKind::kNull:
          return "NULL";
        case LiteralKind::kString:
          return "'" + text + "'";
        default:
          return text;
      }
    case ExprKind::kColumn: {
      std::string out;
      for (const auto& q : qualifier) out += q + ".";
      return out + name;
    }
    case ExprKind::kStar:
      return qualifier.empty() ? "*" : qualifier.back() + ".*";
    case ExprKind::kUnary:
      return name == "NOT" ? "NOT " + child(0) : name + child(0);
    case ExprKind::kBinary:
      return child(0) + " " + name + " " + child(1);
    case ExprKind::kFunction: {
      std::string out = name + "(";
      if (star) out += "*";
      if (distinct) out += "DISTINCT ";
      for (size_t i = 0; i < children.size(); ++i) out += (i ? ", " : "") + child(i);
      out += ")";
      if (filter) out += " FILTER (WHERE " + filter->to_string() + ")";
      return out;
    }
    case ExprKind::kCast:
      return "CAST(" + child(0) + " AS " + cast_type.to_string() + ")";
    case ExprKind::kCase:
      return "CASE ... END";
    case ExprKind::kBetween:
      return child(0) + (negated ? " NOT" : "") + " BETWEEN " + child(1) + " AND " + child(2);
    case ExprKind::kInList:
    case ExprKind::kInSubquery:
      return child(0) + (negated ? " NOT IN (...)" : " IN (...)");
    case ExprKind::kExists:
      return negated ? "NOT EXISTS (...)" : "EXISTS (...)";
    case ExprKind::kScalarSubquery:
      return "(SELECT ...)";
    case ExprKind::kIsNull:
      return child(0) + (negated ? " IS NOT NULL" : " IS NULL");
    case ExprKind::kIsDistinctFrom:
      return child(0) + (negated ? " IS NOT DISTINCT FROM " : " IS DISTINCT FROM ") + child(1);
    case ExprKind::kIsTrue:
      return child(0) + " IS " + (negated ? "NOT " : "") + name;
    case ExprKind::kLike:
      return child(0) + (negated ? " NOT " : " ") + name + " " + child(1);
    case ExprKind::kInterval:
      return "INTERVAL '" + text + "' " + name;
    case ExprKind::kTypedLiteral:
      return cast_type.to_string() + " '" + text + "'";
    case ExprKind::kParameter:
      return "?";
  }
  return "?";
}

}  // namespace sluice::sql
