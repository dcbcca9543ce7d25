// Bounded text-file sources: every line of a file, or of every regular file in a directory
// (sorted by name). Each file is a split; readers ask for the next file when they finish one, so
// fast subtasks take more files (FLIP-27's FileSource). Trailing "\n" and "\r\n" are removed.
//
//   env.from_source(sluice::TextFileSource("in/"), "lines")          // DataStream<std::string>
//   env.from_source(sluice::TextLineSource("in.csv"), "lines")       // DataStream<TextLine>
//
// TextLine carries the file and the 1-based line number, so a parser can report exactly where
// bad input is.
//
// Local file reads happen on the task's thread in bounded chunks (one batch per poll); they are
// page-cache reads, not waits on a remote peer.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/runtime/source.h"

namespace sluice {

struct TextLine {
  std::string file;
  int64_t line = 0;
  std::string text;
};

// A file, from `offset` (the byte after line `line`) to its end.
struct FileSplit final : SourceSplit {
  explicit FileSplit(std::string path, int64_t offset = 0, int64_t line = 0)
      : path(std::move(path)), offset(offset), line(line) {}
  std::string split_id() const override { return path; }
  std::string serialize() const override { return to_bytes(std::tuple(path, offset, line)); }
  static std::unique_ptr<SourceSplit> deserialize(std::string_view bytes);
  std::string path;
  int64_t offset;
  int64_t line;
};

// The files a path stands for: itself, or the regular files in it. Throws sluice::Error (kIo)
// naming the path when it does not exist or holds no file.
std::vector<std::string> list_input_files(const std::string& path);

// Reads one file line by line, reusing its buffer.
class LineFileReader {
 public:
  LineFileReader() = default;
  ~LineFileReader();
  LineFileReader(const LineFileReader&) = delete;
  LineFileReader& operator=(const LineFileReader&) = delete;

  // Reads from byte `offset`, which starts line `line` + 1.
  void open(const std::string& path, int64_t offset = 0, int64_t line = 0);
  bool is_open() const { return file_ != nullptr; }
  // The next line without its terminator; false at end of file.
  bool next(std::string& line);
  int64_t line_number() const { return line_number_; }
  int64_t offset() const { return offset_; }  // of the next line
  const std::string& path() const { return path_; }
  void close();

 private:
  std::FILE* file_ = nullptr;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t line_number_ = 0;
  int64_t offset_ = 0;
  std::string path_;
};

template <class T>
class TextSource final : public Source<T> {
 public:
  explicit TextSource(std::string path) : path_(std::move(path)) {}

  Boundedness boundedness() const override { return Boundedness::kBounded; }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    std::vector<std::unique_ptr<SourceSplit>> splits;
    for (auto& file : list_input_files(path_)) splits.push_back(std::make_unique<FileSplit>(file));
    return std::make_unique<SplitQueueEnumerator>(context, std::move(splits));
  }
  std::unique_ptr<SourceReader<T>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<Reader>(context);
  }
  std::unique_ptr<SourceSplit> deserialize_split(std::string_view bytes) const override {
    return FileSplit::deserialize(bytes);
  }
  std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                      std::string_view state) override {
    return std::make_unique<SplitQueueEnumerator>(context, deserialize_split_list(*this, state));
  }
  void describe(OperatorDescription& d) const override { d.add("path", path_); }

 private:
  class Reader final : public SourceReader<T> {
   public:
    explicit Reader(SourceReaderContext& context) : context_(context) {}
    void start() override { request(); }
    void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
      for (auto& s : splits) pending_.push_back(static_cast<FileSplit&>(*s));
      requested_ = false;
    }
    // The open file from the next line on, then the files not started.
    std::vector<std::unique_ptr<SourceSplit>> snapshot_state(int64_t) override {
      std::vector<std::unique_ptr<SourceSplit>> splits;
      if (file_.is_open()) {
        splits.push_back(
            std::make_unique<FileSplit>(file_.path(), file_.offset(), file_.line_number()));
      }
      for (size_t i = next_pending_; i < pending_.size(); ++i) {
        splits.push_back(std::make_unique<FileSplit>(pending_[i]));
      }
      return splits;
    }
    void notify_no_more_splits() override { no_more_splits_ = true; }

    InputStatus poll_next(ReaderOutput<T>& output) override {
      if (!file_.is_open()) {
        if (next_pending_ < pending_.size()) {
          const FileSplit& split = pending_[next_pending_++];
          file_.open(split.path, split.offset, split.line);
        } else if (no_more_splits_) {
          return InputStatus::kEndOfInput;
        } else {
          request();
          return InputStatus::kNothingAvailable;
        }
      }
      // Each file is a split with its own watermark (when the job assigns event time).
      SplitOutput<T>& split = output.create_output_for_split(file_.path());
      for (size_t n = output.remaining(); n > 0; --n) {
        if (!file_.next(line_)) {
          output.release_output_for_split(file_.path());
          file_.close();
          request();
          break;
        }
        if constexpr (std::is_same_v<T, TextLine>) {
          split.collect(TextLine{file_.path(), file_.line_number(), line_});
        } else {
          split.collect(line_);
        }
      }
      return InputStatus::kMoreAvailable;
    }
    void close() override { file_.close(); }

   private:
    void request() {
      if (requested_ || no_more_splits_ || next_pending_ < pending_.size()) return;
      requested_ = true;
      context_.request_split();
    }

    SourceReaderContext& context_;
    std::vector<FileSplit> pending_;
    size_t next_pending_ = 0;
    bool requested_ = false;
    bool no_more_splits_ = false;
    LineFileReader file_;
    std::string line_;
  };

  std::string path_;
};

using TextFileSource = TextSource<std::string>;
using TextLineSource = TextSource<TextLine>;

}  // namespace sluice
