#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "sluice/api/data_stream.h"
#include "sluice/connectors/file_sink.h"
#include "sluice/connectors/file_source.h"
#include "sluice/core/error.h"
#include "sluice/formats/json.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

using sluice::testing::TempDir;

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Lines of a file whose every line ends in '\n' (as the sinks write them).
std::vector<std::string> split_lines(const std::string& content) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) {
      ADD_FAILURE() << "last line has no terminator";
      end = content.size();
    }
    lines.push_back(content.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<std::string> file_names(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  return sorted(names);
}

sluice::StreamEnvironment make_env(int parallelism) {
  return sluice::testing::quiet_env(parallelism, /*workers=*/2);
}

std::vector<std::string> read_lines_with_job(const std::string& path, int parallelism) {
  auto env = make_env(parallelism);
  auto results = env.from_source(sluice::TextFileSource(path), "lines").collect();
  env.execute("read-lines");
  return results->values();
}

// Runs a job that reads `path` and expects it to fail with an error naming `expected_in_what`.
void expect_job_fails_naming(const std::string& path, const std::string& expected_in_what) {
  auto env = make_env(1);
  auto results = env.from_source(sluice::TextFileSource(path), "lines").collect();
  try {
    env.execute("must-fail");
    ADD_FAILURE() << "the job reading " << path << " did not fail";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kIo) << e.what();
    EXPECT_NE(std::string(e.what()).find(expected_in_what), std::string::npos) << e.what();
  }
  EXPECT_EQ(results->size(), 0u);
}

TEST(TextFileSourceTest, ReadsEveryLineStrippingTerminators) {
  TempDir dir;
  const std::string path = dir / "input.txt";
  // CRLF and LF mixed, empty lines (also CRLF-only ones), a '\r' inside a line, no final newline.
  write_file(path, "one\r\ntwo\n\nthree\r\n\r\nmid\rdle\n  spaced  \nlast");
  EXPECT_EQ(
      read_lines_with_job(path, 1),
      (std::vector<std::string>{"one", "two", "", "three", "", "mid\rdle", "  spaced  ", "last"}));
}

TEST(TextFileSourceTest, EmptyFileAndBlankLines) {
  TempDir dir;
  write_file(dir / "empty.txt", "");
  EXPECT_TRUE(read_lines_with_job(dir / "empty.txt", 1).empty());
  write_file(dir / "blank.txt", "\n\r\n\n");
  EXPECT_EQ(read_lines_with_job(dir / "blank.txt", 1), (std::vector<std::string>{"", "", ""}));
}

TEST(TextFileSourceTest, LongLinesAndManyBatches) {
  TempDir dir;
  std::vector<std::string> expected;
  std::string content;
  // More lines than fit in one batch, and lines longer than any initial read buffer.
  for (int i = 0; i < 20'000; ++i) {
    std::string line = "line-" + std::to_string(i);
    if (i % 5'000 == 17) line += std::string(200'000 + i, static_cast<char>('a' + i % 26));
    expected.push_back(line);
    content += line + (i % 2 == 0 ? "\n" : "\r\n");
  }
  write_file(dir / "big.txt", content);
  EXPECT_EQ(read_lines_with_job(dir / "big.txt", 1), expected);
}

TEST(TextFileSourceTest, DirectoryGivesSameLinesAtAnyParallelism) {
  TempDir dir;
  const std::vector<int> line_counts{0, 1, 1'000, 5'003, 37};
  std::vector<std::string> expected;
  for (size_t f = 0; f < line_counts.size(); ++f) {
    std::string content;
    for (int i = 0; i < line_counts[f]; ++i) {
      // A repeated line in every file, so a lost or doubled duplicate is noticed too.
      std::string line = i % 10 == 0 ? "same" : "f" + std::to_string(f) + "-l" + std::to_string(i);
      content += line + "\n";
      expected.push_back(line);
    }
    write_file(dir / ("part-" + std::to_string(f) + ".txt"), content);
  }
  expected = sorted(expected);
  ASSERT_EQ(expected.size(), 6'041u);
  for (int parallelism : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << "parallelism " << parallelism);
    EXPECT_EQ(sorted(read_lines_with_job(dir.path().string(), parallelism)), expected);
  }
}

TEST(TextFileSourceTest, MoreReadersThanFiles) {
  // Readers that never get a split must still finish, or the job would hang.
  TempDir dir;
  write_file(dir / "only.txt", "a\nb\nc\n");
  EXPECT_EQ(sorted(read_lines_with_job(dir.path().string(), 3)),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(sorted(read_lines_with_job(dir / "only.txt", 3)),
            (std::vector<std::string>{"a", "b", "c"}));
}

TEST(TextFileSourceTest, SkipsHiddenAndInProgressFiles) {
  TempDir dir;
  write_file(dir / "data.txt", "visible\n");
  write_file(dir / "z_last.txt", "also visible\n");
  write_file(dir / ".hidden", "hidden\n");
  write_file(dir / ".part-0.csv.inprogress", "in progress\n");
  write_file(dir / "_SUCCESS", "marker\n");
  write_file(dir / "_temporary", "temporary\n");
  // Subdirectories are not input either (the listing is not recursive).
  fs::create_directories(dir.path() / "nested");
  write_file(dir / "nested/inner.txt", "nested\n");

  EXPECT_EQ(sluice::list_input_files(dir.path().string()),
            (std::vector<std::string>{dir / "data.txt", dir / "z_last.txt"}));
  EXPECT_EQ(sorted(read_lines_with_job(dir.path().string(), 2)),
            (std::vector<std::string>{"also visible", "visible"}));
}

TEST(TextFileSourceTest, ListsFilesSortedByName) {
  TempDir dir;
  for (const char* name : {"c", "a", "b10", "b2"}) write_file(dir / name, "x\n");
  EXPECT_EQ(sluice::list_input_files(dir.path().string()),
            (std::vector<std::string>{dir / "a", dir / "b10", dir / "b2", dir / "c"}));
  // A file stands for itself, whatever its name.
  write_file(dir / ".dotfile", "x\n");
  EXPECT_EQ(sluice::list_input_files(dir / ".dotfile"),
            (std::vector<std::string>{dir / ".dotfile"}));
}

TEST(TextFileSourceTest, MissingPathFailsTheJobNamingThePath) {
  TempDir dir;
  const std::string missing = dir / "no-such-input.txt";
  expect_job_fails_naming(missing, missing);
  try {
    sluice::list_input_files(missing);
    ADD_FAILURE() << "listing a missing path did not throw";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kIo);
    EXPECT_EQ(e.context().file, missing);
  }
}

TEST(TextFileSourceTest, DirectoryWithoutInputFilesFailsNamingThePath) {
  // Documented in file_source.h: a path that holds no file is an error, because an empty input
  // is almost always a wrong path rather than a job that should silently produce nothing.
  TempDir dir;
  expect_job_fails_naming(dir.path().string(), dir.path().string());
  write_file(dir / "_SUCCESS", "");
  write_file(dir / ".hidden", "x\n");
  expect_job_fails_naming(dir.path().string(), dir.path().string());
}

using LineKey = std::tuple<std::string, int64_t, std::string>;

TEST(TextLineSourceTest, CarriesFileAndOneBasedLineNumbers) {
  TempDir dir;
  std::set<LineKey> expected;
  for (int f = 0; f < 3; ++f) {
    const std::string path = dir / ("in-" + std::to_string(f) + ".csv");
    std::string content;
    for (int i = 1; i <= 500 * (f + 1); ++i) {
      std::string text = i % 7 == 0 ? "" : "row " + std::to_string(f) + ":" + std::to_string(i);
      content += text + (i % 3 == 0 ? "\r\n" : "\n");
      expected.insert({path, i, text});
    }
    write_file(path, content);
  }
  auto env = make_env(2);
  auto results = env.from_source(sluice::TextLineSource(dir.path().string()), "lines").collect();
  env.execute("text-lines");

  std::vector<sluice::TextLine> lines = results->values();
  ASSERT_EQ(lines.size(), expected.size());
  std::set<LineKey> actual;
  for (const auto& line : lines) actual.insert({line.file, line.line, line.text});
  EXPECT_EQ(actual, expected);
}

TEST(TextLineSourceTest, SingleFileInOrder) {
  TempDir dir;
  const std::string path = dir / "single.txt";
  write_file(path, "first\n\nthird\r\n");
  auto env = make_env(1);
  auto results = env.from_source(sluice::TextLineSource(path)).collect();
  env.execute("single");
  std::vector<sluice::TextLine> lines = results->values();
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> texts{"first", "", "third"};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].file, path);
    EXPECT_EQ(lines[i].line, static_cast<int64_t>(i + 1));
    EXPECT_EQ(lines[i].text, texts[i]);
  }
}

// --- FileSink ---

struct Row {
  int64_t id = 0;
  std::string name;
  double score = 0;
  bool active = false;
  bool operator==(const Row&) const = default;
  bool operator<(const Row& other) const { return id < other.id; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Row, id, name, score, active)

std::vector<Row> sample_rows(int count) {
  std::vector<Row> rows;
  for (int i = 0; i < count; ++i) {
    std::string name = "name-" + std::to_string(i);
    switch (i % 6) {
      case 1:
        name = "with, comma";
        break;
      case 2:
        name = "with \"quote\"";
        break;
      case 3:
        name = "multi\nline";
        break;
      case 4:
        name = "";
        break;
      case 5:
        name = "Zoë ✓";
        break;
      default:
        break;
    }
    double score = i % 4 == 0 ? 0.1 * i : (i % 4 == 1 ? -1e300 / (i + 1) : i * 0.5);
    rows.push_back(Row{static_cast<int64_t>(i) * 1'000'000'007 - 5, name, score, i % 3 == 0});
  }
  return rows;
}

// Minimal RFC 4180 reader: quoted fields may hold commas, doubled quotes and newlines.
std::vector<std::vector<std::string>> parse_csv(const std::string& content) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (quoted) {
      if (c == '"' && i + 1 < content.size() && content[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      EXPECT_TRUE(field.empty()) << "quote inside an unquoted field";
      quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
    } else {
      field += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quoted field";
  EXPECT_TRUE(field.empty() && record.empty()) << "last record has no terminator";
  return records;
}

Row row_from_csv(const std::vector<std::string>& fields) {
  EXPECT_EQ(fields.size(), 4u);
  if (fields.size() != 4) return {};
  EXPECT_TRUE(fields[3] == "true" || fields[3] == "false") << fields[3];
  return Row{std::stoll(fields[0]), fields[1], std::stod(fields[2]), fields[3] == "true"};
}

// Runs a job writing `rows` into the sink made by make_sink() at `parallelism`.
template <class MakeSink>
void write_rows(const std::vector<Row>& rows, int parallelism, MakeSink make_sink) {
  auto env = make_env(parallelism);
  env.from_collection(rows).sink_to(make_sink()).name("file_sink");
  env.execute("write-rows");
}

void expect_only_final_parts(const fs::path& directory, const std::vector<std::string>& names) {
  EXPECT_EQ(file_names(directory), sorted(names));
  for (const auto& name : file_names(directory)) {
    EXPECT_EQ(name.find("inprogress"), std::string::npos) << name;
  }
}

TEST(FileSinkTest, JsonLinesPartFilesParseBackToTheInput) {
  TempDir dir;
  const std::string out = dir / "json";
  const std::vector<Row> rows = sample_rows(1'000);
  write_rows(rows, 2, [&] { return sluice::FileSink<Row>::json_lines(out); });

  expect_only_final_parts(out, {"part-0-0.jsonl", "part-1-0.jsonl"});
  std::vector<Row> read_back;
  for (const char* part : {"part-0-0.jsonl", "part-1-0.jsonl"}) {
    std::vector<std::string> lines = split_lines(read_file((fs::path(out) / part).string()));
    // The rebalanced input reaches both subtasks.
    EXPECT_FALSE(lines.empty()) << part;
    for (const auto& line : lines) {
      nlohmann::json json = nlohmann::json::parse(line);  // throws on a malformed line
      ASSERT_TRUE(json.is_object()) << line;
      EXPECT_EQ(json.size(), 4u) << line;
      read_back.push_back(json.get<Row>());
    }
  }
  std::vector<Row> expected = rows;
  std::sort(expected.begin(), expected.end());
  std::sort(read_back.begin(), read_back.end());
  EXPECT_EQ(read_back, expected);
}

TEST(FileSinkTest, JsonLinesExactFormat) {
  TempDir dir;
  const std::string out = dir / "json";
  write_rows({Row{7, "a \"b\", c\nd", 2.5, true}, Row{-1, "", 0, false}}, 1,
             [&] { return sluice::FileSink<Row>::json_lines(out); });
  expect_only_final_parts(out, {"part-0-0.jsonl"});
  EXPECT_EQ(read_file(out + "/part-0-0.jsonl"),
            "{\"active\":true,\"id\":7,\"name\":\"a \\\"b\\\", c\\nd\",\"score\":2.5}\n"
            "{\"active\":false,\"id\":-1,\"name\":\"\",\"score\":0.0}\n");
}

TEST(FileSinkTest, CsvQuotesFieldsThatNeedIt) {
  TempDir dir;
  const std::string out = dir / "csv";
  write_rows(
      {Row{1, "plain", 2.5, true}, Row{2, "with, comma", -0.125, false},
       Row{3, "say \"hi\"", 1e300, true}, Row{4, "two\nlines", 0.1, false}, Row{5, "", 3, true}},
      1, [&] { return sluice::FileSink<Row>::csv(out); });
  expect_only_final_parts(out, {"part-0-0.csv"});
  EXPECT_EQ(read_file(out + "/part-0-0.csv"),
            "1,plain,2.5,true\n"
            "2,\"with, comma\",-0.125,false\n"
            "3,\"say \"\"hi\"\"\",1e+300,true\n"
            "4,\"two\nlines\",0.1,false\n"
            "5,,3.0,true\n");
}

TEST(FileSinkTest, CsvPartFilesParseBackToTheInput) {
  TempDir dir;
  const std::string out = dir / "csv";
  const std::vector<Row> rows = sample_rows(999);
  write_rows(rows, 2, [&] { return sluice::FileSink<Row>::csv(out); });

  expect_only_final_parts(out, {"part-0-0.csv", "part-1-0.csv"});
  std::vector<Row> read_back;
  for (const char* part : {"part-0-0.csv", "part-1-0.csv"}) {
    auto records = parse_csv(read_file((fs::path(out) / part).string()));
    EXPECT_FALSE(records.empty()) << part;
    for (const auto& record : records) read_back.push_back(row_from_csv(record));
  }
  std::vector<Row> expected = rows;
  std::sort(expected.begin(), expected.end());
  std::sort(read_back.begin(), read_back.end());
  // Doubles are written in shortest round-trip form, so they compare exactly.
  EXPECT_EQ(read_back, expected);
}

TEST(FileSinkTest, TextLinesThroughSinkAtParallelismTwo) {
  TempDir dir;
  const std::string in = dir / "in";
  fs::create_directories(in);
  std::vector<std::string> expected;
  for (int f = 0; f < 3; ++f) {
    std::string content;
    for (int i = 0; i < 700; ++i) {
      std::string line = "file " + std::to_string(f) + " line " + std::to_string(i);
      if (i % 50 == 0) line = "";
      content += line + "\n";
      expected.push_back(line);
    }
    write_file(in + "/input-" + std::to_string(f) + ".txt", content);
  }

  const std::string json_out = dir / "json";
  const std::string csv_out = dir / "csv";
  {
    auto env = make_env(2);
    auto lines = env.from_source(sluice::TextFileSource(in), "lines");
    lines.sink_to(sluice::FileSink<std::string>::json_lines(json_out));
    lines.sink_to(sluice::FileSink<std::string>::csv(csv_out));
    env.execute("copy-lines");
  }

  expect_only_final_parts(json_out, {"part-0-0.jsonl", "part-1-0.jsonl"});
  expect_only_final_parts(csv_out, {"part-0-0.csv", "part-1-0.csv"});
  std::vector<std::string> json_lines;
  std::vector<std::string> csv_lines;
  for (int subtask = 0; subtask < 2; ++subtask) {
    const std::string suffix = "/part-" + std::to_string(subtask) + "-0";
    for (const auto& line : split_lines(read_file(json_out + suffix + ".jsonl"))) {
      json_lines.push_back(nlohmann::json::parse(line).get<std::string>());
    }
    // These lines need no quoting, so each CSV line is the input line itself.
    for (const auto& line : split_lines(read_file(csv_out + suffix + ".csv"))) {
      csv_lines.push_back(line);
    }
  }
  expected = sorted(expected);
  EXPECT_EQ(sorted(json_lines), expected);
  EXPECT_EQ(sorted(csv_lines), expected);
}

TEST(FileSinkTest, EverySubtaskCommitsAPartFileEvenWhenEmpty) {
  // A reader of the output directory must see one committed file per subtask, never a missing
  // or in-progress one, even when a subtask received nothing.
  TempDir dir;
  const std::string out = dir / "out";
  write_rows({Row{1, "only", 1, true}}, 3, [&] { return sluice::FileSink<Row>::json_lines(out); });
  expect_only_final_parts(out, {"part-0-0.jsonl", "part-1-0.jsonl", "part-2-0.jsonl"});
  std::string all;
  for (int subtask = 0; subtask < 3; ++subtask) {
    all += read_file(out + "/part-" + std::to_string(subtask) + "-0.jsonl");
  }
  EXPECT_EQ(all, "{\"active\":true,\"id\":1,\"name\":\"only\",\"score\":1.0}\n");
}

TEST(FileSinkTest, ASecondRunAddsPartsAndNeverOverwritesCommittedOnes) {
  // As Flink's FileSink: committed output is never touched; a new run numbers its parts after it.
  TempDir dir;
  const std::string out = dir / "out";
  write_rows(sample_rows(10), 1, [&] { return sluice::FileSink<Row>::json_lines(out); });
  write_rows({Row{42, "second run", 0.5, false}}, 1,
             [&] { return sluice::FileSink<Row>::json_lines(out); });
  expect_only_final_parts(out, {"part-0-0.jsonl", "part-0-1.jsonl"});
  EXPECT_EQ(split_lines(read_file(out + "/part-0-0.jsonl")).size(), 10u);
  EXPECT_EQ(split_lines(read_file(out + "/part-0-1.jsonl")).size(), 1u);
}

TEST(FileSinkTest, UnwritableDirectoryFailsNamingIt) {
  TempDir dir;
  // A regular file where the output directory should be.
  const std::string blocked = dir / "blocked";
  write_file(blocked, "not a directory\n");
  auto env = make_env(1);
  env.from_collection(sample_rows(3)).sink_to(sluice::FileSink<Row>::csv(blocked));
  try {
    env.execute("blocked");
    ADD_FAILURE() << "writing into a regular file did not fail";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kIo) << e.what();
    EXPECT_NE(std::string(e.what()).find(blocked), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(blocked), "not a directory\n");
}

TEST(FileSinkTest, BucketsWriteEachRecordIntoItsSubdirectory) {
  TempDir dir;
  const std::string out = dir / "out";
  const auto index = [](const Row& r) { return (r.id + 5) / 1'000'000'007; };  // sample_rows' i
  const auto bucket = [&](const Row& r) {
    return "parity=" + std::to_string(index(r) % 2) + "/tens=" + std::to_string(index(r) / 10);
  };
  // A crashed attempt's hidden file in a bucket the next run never writes to is removed too.
  fs::create_directories(out + "/parity=1/tens=9");
  write_file(out + "/parity=1/tens=9/.part-0-0.jsonl.inprogress", "lost\n");
  write_rows(sample_rows(20), 2,
             [&] { return sluice::FileSink<Row>::json_lines(out).bucket_by(bucket); });
  std::map<std::string, std::vector<Row>> rows;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    if (!entry.is_regular_file()) continue;
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    for (const auto& line : split_lines(read_file(entry.path().string()))) {
      rows[fs::relative(entry.path().parent_path(), out).string()].push_back(
          nlohmann::json::parse(line).get<Row>());
    }
  }
  ASSERT_EQ(rows.size(), 4u);
  size_t total = 0;
  for (const auto& [name, in_bucket] : rows) {
    total += in_bucket.size();
    EXPECT_EQ(in_bucket.size(), 5u) << name;
    for (const Row& r : in_bucket) EXPECT_EQ(bucket(r), name);
  }
  EXPECT_EQ(total, 20u);
}

TEST(FileSinkTest, BucketOutsideTheDirectoryFailsNamingIt) {
  TempDir dir;
  auto env = make_env(1);
  env.from_collection(sample_rows(3))
      .sink_to(sluice::FileSink<Row>::csv(dir / "out").bucket_by([](const Row&) {
        return std::string("../escape");
      }));
  try {
    env.execute("escape");
    ADD_FAILURE() << "a bucket outside the directory was written";
  } catch (const sluice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("../escape"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "escape"));
}

TEST(FileSinkTest, CsvFieldQuoting) {
  auto quoted = [](std::string_view text) {
    std::string out;
    sluice::append_csv_field(out, text);
    return out;
  };
  EXPECT_EQ(quoted("plain text"), "plain text");
  EXPECT_EQ(quoted(""), "");
  EXPECT_EQ(quoted("a,b"), "\"a,b\"");
  EXPECT_EQ(quoted("say \"x\""), "\"say \"\"x\"\"\"");
  EXPECT_EQ(quoted("\""), "\"\"\"\"");
  EXPECT_EQ(quoted("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(quoted("lf\nhere"), "\"lf\nhere\"");
}

}  // namespace
