#include "sluice/sql/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "binder.h"
#include "execution/physical_operator.h"
#include "optimizer.h"
#include "sluice/sql/parser.h"

namespace sluice::sql {

namespace {

std::string physical_name(const LogicalOperator& op) {
  switch (op.kind) {
    case LogicalKind::kScan:
      return fmt::format("TableScan {} ({})", op.table_name, op.table->describe());
    case LogicalKind::kJoin:
      return op.left_keys.empty() ? "NestedLoopJoin" : "HashJoin";
    case LogicalKind::kAggregate:
      return "HashAggregate";
    default:
      return "";
  }
}

void render_physical(const LogicalOperator& op, int depth, std::string& out) {
  std::string logical = op.to_string();
  std::string line = logical.substr(0, logical.find('\n'));
  std::string name = physical_name(op);
  std::string indent(static_cast<size_t>(depth) * 2, ' ');
  if (!name.empty()) {
    // Keep the details of the logical line after its operator name.
    size_t space = line.find(' ');
    std::string details = space == std::string::npos ? "" : line.substr(space);
    if (op.kind == LogicalKind::kScan) {
      size_t bracket = details.find('[');
      details = bracket == std::string::npos ? "" : " " + details.substr(bracket);
    }
    line = name + details;
  }
  out += indent + line + "\n";
  for (const auto& child : op.children) render_physical(*child, depth + 1, out);
}

QueryResult text_rows(const std::string& column, const std::vector<std::string>& lines) {
  QueryResult result;
  result.has_rows = true;
  result.column_names = {column};
  result.column_types = {LogicalType::string()};
  auto chunk = std::make_unique<DataChunk>(result.column_types);
  for (const auto& line : lines) {
    if (chunk->size() == kBatchSize) {
      result.chunks.push_back(std::move(chunk));
      chunk = std::make_unique<DataChunk>(result.column_types);
    }
    chunk->column(0).add_string(chunk->size(), line);
    chunk->set_size(chunk->size() + 1);
  }
  if (chunk->size() > 0) result.chunks.push_back(std::move(chunk));
  return result;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

}  // namespace

size_t QueryResult::row_count() const {
  size_t n = 0;
  for (const auto& c : chunks) n += c->size();
  return n;
}

Value QueryResult::value(size_t row, size_t column) const {
  for (const auto& c : chunks) {
    if (row < c->size()) return Value::from_vector(c->column(column), row);
    row -= c->size();
  }
  return Value();
}

std::vector<std::vector<std::string>> QueryResult::rendered_rows() const {
  std::vector<std::vector<std::string>> rows;
  for (const auto& chunk : chunks) {
    for (size_t r = 0; r < chunk->size(); ++r) {
      std::vector<std::string> row;
      for (size_t c = 0; c < chunk->column_count(); ++c) {
        row.push_back(Value::from_vector(chunk->column(c), r).to_string());
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string QueryResult::to_table(size_t max_rows) const {
  if (!has_rows) return message + "\n";
  std::vector<std::vector<std::string>> rows = rendered_rows();
  size_t shown = std::min(rows.size(), max_rows);
  std::vector<size_t> width(column_names.size());
  for (size_t c = 0; c < column_names.size(); ++c) width[c] = column_names[c].size();
  for (size_t r = 0; r < shown; ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) width[c] = std::max(width[c], rows[r][c].size());
  }
  auto rule = [&] {
    std::string line = "+";
    for (size_t w : width) line += std::string(w + 2, '-') + "+";
    return line + "\n";
  };
  auto numeric = [&](size_t c) { return column_types[c].is_numeric(); };
  std::string out = rule() + "|";
  for (size_t c = 0; c < column_names.size(); ++c) {
    out += fmt::format(" {:<{}} |", column_names[c], width[c]);
  }
  out += "\n" + rule();
  for (size_t r = 0; r < shown; ++r) {
    out += "|";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      out += numeric(c) ? fmt::format(" {:>{}} |", rows[r][c], width[c])
                        : fmt::format(" {:<{}} |", rows[r][c], width[c]);
    }
    out += "\n";
  }
  out += rule();
  out += fmt::format("{} row{}{}\n", rows.size(), rows.size() == 1 ? "" : "s",
                     shown < rows.size() ? fmt::format(" ({} shown)", shown) : "");
  return out;
}

Session::Session() : functions_(FunctionRegistry::with_builtins()) {}
Session::~Session() = default;

void Session::register_table_factory(const std::string& connector, TableFactory factory) {
  factories_[connector] = std::move(factory);
}

void Session::register_table(const std::string& name, std::shared_ptr<TableSource> table) {
  CatalogEntry entry;
  entry.name = name;
  entry.table = std::move(table);
  catalog_.add(std::move(entry));
}

QueryResult Session::execute(std::string_view sql) {
  std::vector<std::unique_ptr<Statement>> statements = parse_sql(sql);
  QueryResult last;
  last.message = "OK";
  for (const auto& statement : statements) last = run(*statement);
  return last;
}

std::string Session::explain(std::string_view query) {
  std::vector<std::unique_ptr<Statement>> statements = parse_sql(query);
  if (statements.size() != 1 || statements[0]->kind != Statement::Kind::kQuery) {
    throw SqlError("EXPLAIN takes one query");
  }
  Binder binder(catalog_, functions_, statements[0]->source);
  LogicalPlan logical = binder.bind_query(*statements[0]->query);
  std::string out = "== Logical plan ==\n" + logical->to_string();
  LogicalPlan optimized = optimize(std::move(logical));
  out += "== Physical plan ==\n";
  render_physical(*optimized, 0, out);
  return out;
}

QueryResult Session::run(const Statement& statement) {
  switch (statement.kind) {
    case Statement::Kind::kQuery:
      return run_query(statement);
    case Statement::Kind::kExplain: {
      const Statement& inner = *statement.explained;
      if (inner.kind != Statement::Kind::kQuery) throw SqlError("EXPLAIN supports queries");
      std::string text(inner.source->substr(inner.query->position.offset,
                                            inner.end_offset - inner.query->position.offset));
      return text_rows("plan", split_lines(explain(text)));
    }
    case Statement::Kind::kCreateTable:
      return create_table(statement);
    case Statement::Kind::kCreateView: {
      const std::string& name = statement.name.back();
      if (catalog_.find(name)) {
        if (statement.if_not_exists) return QueryResult{{}, {}, {}, "OK", false};
        throw SqlError(fmt::format("table or view '{}' already exists", name), statement.position,
                       *statement.source);
      }
      // Bound now so that a broken view fails at CREATE, not at first use.
      Binder binder(catalog_, functions_, statement.source);
      binder.bind_query(*statement.query);
      CatalogEntry entry;
      entry.kind = CatalogEntry::Kind::kView;
      entry.name = name;
      entry.view_sql =
          statement.source->substr(statement.query->position.offset,
                                   statement.end_offset - statement.query->position.offset);
      entry.view_columns = statement.insert_columns;
      catalog_.add(std::move(entry));
      return QueryResult{{}, {}, {}, "OK", false};
    }
    case Statement::Kind::kInsert:
      return insert(statement);
    case Statement::Kind::kDrop: {
      const std::string& name = statement.name.back();
      const CatalogEntry* entry = catalog_.find(name);
      bool is_view = entry && entry->kind == CatalogEntry::Kind::kView;
      if (!entry || is_view != (statement.drop_kind == "VIEW")) {
        if (statement.if_exists) return QueryResult{{}, {}, {}, "OK", false};
        throw SqlError(fmt::format("{} '{}' not found",
                                   statement.drop_kind == "VIEW" ? "view" : "table", name),
                       statement.position, *statement.source);
      }
      catalog_.remove(name);
      return QueryResult{{}, {}, {}, "OK", false};
    }
    case Statement::Kind::kShowTables:
      return text_rows("table name", catalog_.names());
    case Statement::Kind::kDescribe: {
      const CatalogEntry* entry = catalog_.find(statement.name.back());
      if (!entry) {
        throw SqlError(fmt::format("table '{}' not found", statement.name.back()),
                       statement.position, *statement.source);
      }
      std::vector<std::string> lines;
      if (entry->kind == CatalogEntry::Kind::kTable) {
        for (const auto& c : entry->table->columns()) {
          lines.push_back(
              fmt::format("{} {}{}", c.name, c.type.to_string(), c.nullable ? "" : " NOT NULL"));
        }
      } else {
        auto parsed = parse_sql(entry->view_sql);
        Binder binder(catalog_, functions_, parsed[0]->source);
        LogicalPlan plan = binder.bind_query(*parsed[0]->query);
        for (const auto& c : plan->output)
          lines.push_back(fmt::format("{} {}", c.name, c.type.to_string()));
      }
      return text_rows("column", lines);
    }
    case Statement::Kind::kSet: {
      // A value that does not parse is refused here, not by the next query.
      auto before = options_;
      for (const auto& [k, v] : statement.options) options_[k] = v;
      try {
        execution_options();
      } catch (...) {
        options_ = std::move(before);
        throw;
      }
      return QueryResult{{}, {}, {}, "OK", false};
    }
  }
  throw SqlError("unsupported statement");
}

ExecutionOptions Session::execution_options() const {
  ExecutionOptions options;
  options.parallelism = std::max(1u, std::thread::hardware_concurrency());
  auto it = options_.find("parallelism.default");
  if (it != options_.end()) {
    try {
      options.parallelism = std::stoul(it->second);
    } catch (const std::exception&) {
      options.parallelism = 0;
    }
    if (options.parallelism == 0 || options.parallelism > 256) {
      throw SqlError(fmt::format("'parallelism.default' must be 1 to 256, not '{}'", it->second));
    }
  }
  it = options_.find("taskmanager.memory.managed.size");
  options.memory_limit =
      it == options_.end() ? default_memory_limit() : parse_memory_size(it->first, it->second);
  it = options_.find("io.tmp.dirs");
  if (it != options_.end()) {
    options.spill_directories.clear();
    std::string current;
    for (char c : it->second + ",") {
      if (c != ',' && c != ':') {
        current += c;
        continue;
      }
      if (!current.empty()) options.spill_directories.push_back(current);
      current.clear();
    }
    if (options.spill_directories.empty()) {
      throw SqlError(fmt::format("'io.tmp.dirs' names no directory: '{}'", it->second));
    }
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) {
    options.spill_directories = {tmp};
  }
  return options;
}

QueryResult Session::run_query(const Statement& statement) {
  Binder binder(catalog_, functions_, statement.source);
  LogicalPlan plan = optimize(binder.bind_query(*statement.query));
  QueryResult result;
  result.has_rows = true;
  for (const auto& c : plan->output) {
    result.column_names.push_back(c.name);
    result.column_types.push_back(c.type);
  }
  ExecutionStats stats;
  ExecutionOptions options = execution_options();
  options.stats = &stats;
  result.chunks = execute_plan(*plan, options);
  result.peak_managed_bytes = stats.peak_reserved_bytes;
  result.spilled_bytes = stats.spilled_bytes;
  return result;
}

QueryResult Session::create_table(const Statement& statement) {
  const std::string& name = statement.name.back();
  if (catalog_.find(name)) {
    if (statement.if_not_exists) return QueryResult{{}, {}, {}, "OK", false};
    throw SqlError(fmt::format("table '{}' already exists", name), statement.position,
                   *statement.source);
  }
  std::map<std::string, std::string> options(statement.options.begin(), statement.options.end());
  std::vector<ColumnSchema> columns;
  for (const auto& c : statement.columns) {
    for (const auto& existing : columns) {
      if (existing.name == c.name) {
        throw SqlError(fmt::format("column '{}' is defined twice", c.name), c.position,
                       *statement.source);
      }
    }
    if (c.type.physical() == PhysicalType::kNested) {
      throw SqlError(
          fmt::format("column '{}': {} columns are not supported yet", c.name, c.type.to_string()),
          c.position, *statement.source);
    }
    columns.push_back({c.name, c.type, !c.not_null});
  }
  CatalogEntry entry;
  entry.name = name;
  entry.options = options;
  auto connector = options.find("connector");
  if (connector != options.end()) {
    if (statement.query)
      throw SqlError("CREATE TABLE ... WITH ('connector' = ...) AS SELECT is not supported yet");
    auto factory = factories_.find(connector->second);
    if (factory == factories_.end()) {
      std::string known;
      for (const auto& [n, _] : factories_) known += (known.empty() ? "" : ", ") + n;
      throw SqlError(fmt::format("unknown connector '{}' (known: {})", connector->second,
                                 known.empty() ? "none" : known),
                     statement.position, *statement.source);
    }
    entry.table = factory->second(name, columns, options);
    catalog_.add(std::move(entry));
    return QueryResult{{}, {}, {}, "OK", false};
  }
  std::shared_ptr<MemoryTable> table;
  if (statement.query) {
    Binder binder(catalog_, functions_, statement.source);
    LogicalPlan plan = optimize(binder.bind_query(*statement.query));
    if (!columns.empty()) throw SqlError("CREATE TABLE AS SELECT takes its columns from the query");
    for (const auto& c : plan->output) columns.push_back({c.name, c.type, true});
    table = std::make_shared<MemoryTable>(columns);
    for (auto& chunk : execute_plan(*plan, execution_options())) table->adopt(std::move(chunk));
  } else {
    table = std::make_shared<MemoryTable>(columns);
  }
  entry.table = table;
  catalog_.add(std::move(entry));
  return QueryResult{{}, {}, {}, "OK", false};
}

QueryResult Session::insert(const Statement& statement) {
  const std::string& name = statement.name.back();
  const CatalogEntry* entry = catalog_.find(name);
  if (!entry || entry->kind != CatalogEntry::Kind::kTable) {
    throw SqlError(fmt::format("table '{}' not found", name), statement.position,
                   *statement.source);
  }
  auto table = std::dynamic_pointer_cast<MemoryTable>(entry->table);
  if (!table) {
    throw SqlError(
        fmt::format("table '{}' ({}) cannot be written to yet", name, entry->table->describe()),
        statement.position, *statement.source);
  }
  const auto& columns = table->columns();
  // Target positions of the query's columns.
  std::vector<size_t> targets;
  if (statement.insert_columns.empty()) {
    for (size_t i = 0; i < columns.size(); ++i) targets.push_back(i);
  } else {
    for (const auto& c : statement.insert_columns) {
      auto it = std::find_if(columns.begin(), columns.end(),
                             [&](const ColumnSchema& s) { return s.name == c; });
      if (it == columns.end()) {
        throw SqlError(fmt::format("column '{}' not found in table '{}'", c, name),
                       statement.position, *statement.source);
      }
      targets.push_back(static_cast<size_t>(it - columns.begin()));
    }
  }
  Binder binder(catalog_, functions_, statement.source);
  LogicalPlan plan = binder.bind_query(*statement.query);
  if (plan->output.size() != targets.size()) {
    throw SqlError(fmt::format("INSERT INTO {} has {} target columns but the query returns {}",
                               name, targets.size(), plan->output.size()),
                   statement.position, *statement.source);
  }
  // Cast the query's columns to the table's types, in the table's order (NULL for the rest).
  auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
  for (size_t i = 0; i < columns.size(); ++i) {
    auto it = std::find(targets.begin(), targets.end(), i);
    BoundExprPtr e;
    if (it == targets.end()) {
      if (!columns[i].nullable) {
        throw SqlError(fmt::format("column '{}' of '{}' is NOT NULL and needs a value",
                                   columns[i].name, name));
      }
      e = make_cast(make_constant(Value::null(LogicalType::null())), columns[i].type);
    } else {
      size_t source = static_cast<size_t>(it - targets.begin());
      const LogicalType& from = plan->output[source].type;
      if (!can_cast(from, columns[i].type)) {
        throw SqlError(fmt::format("cannot insert {} into column '{}' of type {}", from.to_string(),
                                   columns[i].name, columns[i].type.to_string()),
                       statement.position, *statement.source);
      }
      e = make_column(source, from);
      if (!(from == columns[i].type)) e = make_cast(std::move(e), columns[i].type);
    }
    project->output.push_back({columns[i].name, columns[i].type});
    project->expressions.push_back(std::move(e));
  }
  project->children.push_back(std::move(plan));
  LogicalPlan optimized = optimize(std::move(project));
  // The whole result first, then the append: a failing query inserts nothing.
  auto chunks = execute_plan(*optimized, execution_options());
  size_t rows = 0;
  for (const auto& chunk : chunks) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i].nullable) continue;
      const Vector& v = chunk->column(i);
      for (size_t r = 0; r < chunk->size(); ++r) {
        if (!v.is_valid(r)) {
          throw Error(ErrorCategory::kBadInput,
                      fmt::format("NULL into NOT NULL column '{}' of '{}'", columns[i].name, name));
        }
      }
    }
    rows += chunk->size();
  }
  for (const auto& chunk : chunks) table->append(*chunk);
  return QueryResult{
      {}, {}, {}, fmt::format("{} row{} inserted", rows, rows == 1 ? "" : "s"), false};
}

}  // namespace sluice::sql
