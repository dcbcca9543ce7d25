// The JSON format: records to and from JSON text through nlohmann::json's to_json / from_json for
// T (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE gives both in one line). The file sink's JSON lines and
// the Kafka connector's JSON (de)serializers use it; include this header where a job writes or
// reads JSON. It is the only public header that includes nlohmann/json, so that a job that does
// not use JSON does not compile it.
//
//   struct Alert { int64_t id; double score; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Alert, id, score)
//   stream.sink_to(sluice::FileSink<Alert>::json_lines("out/alerts"));
//
// Threading: stateless functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "sluice/core/error.h"

namespace sluice {

template <class T>
struct JsonFormat {
  // Appends the record as one line of JSON text (without the line end).
  static void append(const T& value, std::string& out) {
    if constexpr (requires(nlohmann::json & j, const T& v) { to_json(j, v); } ||
                  std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
      out += nlohmann::json(value).dump();
    } else {
      throw Error(ErrorCategory::kInvalidJob,
                  "writing JSON needs a to_json(nlohmann::json&, const T&) for the record type "
                  "(e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE)");
    }
  }
  // Throws on text that is not JSON or does not fit T.
  static T parse(std::string_view text) {
    return nlohmann::json::parse(text.begin(), text.end()).get<T>();
  }
};

}  // namespace sluice
