// DataStream<T>: a typed stream in a job being defined. Transformations add nodes to the
// environment's graph and return new streams; nothing runs until StreamEnvironment::execute().
//
//   env.from_source(sluice::datagen<Txn>(make_txn), "transactions")
//      .key_by(&Txn::customer_id)
//      .reduce([](const Txn& a, const Txn& b) { ... })
//      .filter([](const Txn& t) { return t.amount > 1000; })
//      .sink_to(sluice::FileSink<Txn>::json_lines("out/big"));
//
// Functions may be lambdas or classes (see sluice/functions/process_function.h); each subtask gets
// its own copy.
// Partitioning: by default an edge is forward when both sides have the same parallelism and
// rebalance otherwise; key_by() hash-partitions by key group; rebalance(), broadcast() and
// forward() choose explicitly for the next transformation.
//
// Threading: define a job from one thread.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/api/datagen.h"
#include "sluice/api/environment.h"
#include "sluice/api/sinks.h"
#include "sluice/functions/broadcast_process_function.h"
#include "sluice/functions/keyed_process_function.h"
#include "sluice/functions/process_function.h"
#include "sluice/operators/broadcast_process.h"
#include "sluice/operators/co_flat_map.h"
#include "sluice/operators/co_map.h"
#include "sluice/operators/co_process.h"
#include "sluice/operators/filter.h"
#include "sluice/operators/flat_map.h"
#include "sluice/operators/identity.h"
#include "sluice/operators/keyed_process.h"
#include "sluice/operators/keyed_reduce.h"
#include "sluice/operators/map.h"
#include "sluice/operators/process.h"
#include "sluice/operators/sink_operator.h"
#include "sluice/operators/timestamps_and_watermarks.h"
#include "sluice/runtime/sink.h"
#include "sluice/time/watermarks.h"
#include "sluice/window/windows.h"

namespace sluice {

template <class T, class KeySelector>
class KeyedStream;
template <class T1, class T2>
class ConnectedStreams;
template <class T>
class BroadcastStream;
template <class T, class KeySelector, class B>
class BroadcastConnectedStream;

// Returned by sink_to() and friends: lets the sink's parallelism and name be set.
class SinkHandle {
 public:
  SinkHandle(StreamEnvironment& env, int node) : env_(&env), node_(node) {}
  SinkHandle& set_parallelism(int parallelism) {
    env_->graph().node(node_).parallelism = parallelism;
    return *this;
  }
  SinkHandle& name(const std::string& name) {
    env_->graph().node(node_).name = name;
    return *this;
  }
  SinkHandle& uid(const std::string& uid) {
    env_->graph().node(node_).uid = uid;
    return *this;
  }
  int node_id() const { return node_; }

 private:
  StreamEnvironment* env_;
  int node_;
};

template <class T>
class DataStream {
 public:
  using value_type = T;

  DataStream(StreamEnvironment& env, int node, int tag = 0)
      : env_(&env),
        node_(node),
        tag_(tag),
        writer_(writer_factory<T>()),
        codec_(buffer_codec<T>()) {}

  // --- per-record transformations ---
  template <class F>
  // fn(const T&) -> Out, or fn(T&&) -> Out to move parts of the record out (it then gets a
  // copy only when another operator also reads the same records).
  auto map(F fn) const {
    using Out = std::decay_t<std::invoke_result_t<F&, T&&>>;
    return add_operator<Out>(
        "map", [fn] { return std::make_unique<operators::MapOperator<T, Out, F>>(fn); });
  }
  template <class F>
  DataStream<T> filter(F fn) const {
    return add_operator<T>("filter",
                           [fn] { return std::make_unique<operators::FilterOperator<T, F>>(fn); });
  }
  // fn(const T&, Collector<Out>&); Out is deduced from the Collector parameter unless given.
  template <class Out = void, class F>
  auto flat_map(F fn) const {
    using O = std::conditional_t<std::is_void_v<Out>, detail::flat_map_output_t<F>, Out>;
    return add_operator<O>(
        "flat_map", [fn] { return std::make_unique<operators::FlatMapOperator<T, O, F>>(fn); });
  }
  // A ProcessFunction<T, Out> (or any class with process_element(const T&, ProcessContext&,
  // Collector<Out>&)): may emit any number of records and write to side outputs.
  template <class Out = void, class F>
  auto process(F fn) const {
    using O =
        std::conditional_t<std::is_void_v<Out>, typename detail::process_output<F>::type, Out>;
    return add_operator<O>(
        "process", [fn] { return std::make_unique<operators::ProcessOperator<T, O, F>>(fn); });
  }
  // Assigns event timestamps and generates watermarks (see watermarks.h). Chained to the
  // operator before it.
  template <class Assigner>
  DataStream<T> assign_timestamps_and_watermarks(WatermarkStrategy<T, Assigner> strategy) const {
    return add_operator<T>("timestamps/watermarks", [strategy] {
      return std::make_unique<operators::TimestampsAndWatermarksOperator<T, Assigner>>(strategy);
    });
  }
  template <class X>
  DataStream<X> get_side_output(const OutputTag<X>& tag) const {
    DataStream<X> side(*env_, side_output_node_ >= 0 ? side_output_node_ : node_, tag.tag());
    side.side_output_ = tag.id();
    return side;
  }

  // Windows over the whole stream, computed by one subtask (see windowed_stream.h).
  // `assigner`: a TimeWindowSpec, SessionWindowSpec or GlobalWindowSpec (see windows.h).
  template <class Assigner>
  auto window_all(const Assigner& assigner) const;

  // --- partitioning ---
  template <class KeySelector>
  KeyedStream<T, KeySelector> key_by(KeySelector selector) const;
  DataStream<T> rebalance() const { return with_partitioning(Partitioning::kRebalance); }
  DataStream<T> broadcast() const { return with_partitioning(Partitioning::kBroadcast); }
  // For the broadcast state pattern: every record goes to every subtask of the operator it is
  // connected to, which keeps the broadcast states named by `descriptors` (MapStateDescriptors).
  template <class D, class... More>
  BroadcastStream<T> broadcast(const D& descriptor, const More&... more) const {
    return BroadcastStream<T>(broadcast(), {descriptor.name, more.name...});
  }
  DataStream<T> forward() const { return with_partitioning(Partitioning::kForward); }

  // --- multiple streams ---
  template <class... Others>
  DataStream<T> union_with(const Others&... others) const {
    int id =
        env_->add_node("union", [] { return std::make_unique<operators::IdentityOperator<T>>(); });
    connect_to(id, 0);
    (others.connect_to(id, 0), ...);
    return DataStream<T>(*env_, id);
  }
  template <class U>
  ConnectedStreams<T, U> connect(const DataStream<U>& other) const {
    return ConnectedStreams<T, U>(*this, other);
  }
  // The broadcast state pattern without keys: fn is a BroadcastProcessFunction<T, B, Out>.
  template <class B>
  auto connect(const BroadcastStream<B>& rules) const {
    return BroadcastConnectedStream<T, void, B>(*this, rules);
  }
  // Window join and co-group with another stream (see sluice/api/joins.h).
  template <class U>
  auto join(const DataStream<U>& other) const;
  template <class U>
  auto co_group(const DataStream<U>& other) const;

  // --- sinks ---
  template <class S>
  SinkHandle sink_to(S sink) const {
    static_assert(std::is_base_of_v<Sink<T>, S>, "sink_to() needs a Sink<T> of the stream's type");
    return sink_to(std::shared_ptr<Sink<T>>(std::make_shared<S>(std::move(sink))));
  }
  SinkHandle sink_to(std::shared_ptr<Sink<T>> sink, const std::string& name = "sink") const {
    int id =
        env_->add_node(name, [sink] { return std::make_unique<operators::SinkOperator<T>>(sink); });
    connect_to(id, 0);
    return SinkHandle(*env_, id);
  }
  template <class F>
  SinkHandle add_sink(F fn) const {
    return sink_to(std::shared_ptr<Sink<T>>(std::make_shared<FunctionSink<T, F>>(std::move(fn))));
  }
  SinkHandle print(const std::string& prefix = "") const {
    return sink_to(std::shared_ptr<Sink<T>>(std::make_shared<PrintSink<T>>(prefix)), "print");
  }
  // Collects every record in memory; read the results after execute() returns.
  std::shared_ptr<CollectedRecords<T>> collect() const {
    auto results = std::make_shared<CollectedRecords<T>>();
    sink_to(std::shared_ptr<Sink<T>>(std::make_shared<CollectSink<T>>(results)), "collect");
    return results;
  }

  // --- properties of the operator that produces this stream ---
  DataStream& set_parallelism(int parallelism) {
    node().parallelism = parallelism;
    return *this;
  }
  DataStream& name(const std::string& name) {
    node().name = name;
    return *this;
  }
  DataStream& uid(const std::string& uid) {
    node().uid = uid;
    return *this;
  }
  DataStream& disable_chaining() {
    node().chaining = false;
    return *this;
  }
  int node_id() const { return node_; }
  StreamEnvironment& environment() const { return *env_; }

  // Side outputs of this stream come from node `node` (for the API's own use: a source's, when
  // from_source appended the watermark operator).
  DataStream& take_side_outputs_from(int node) {
    side_output_node_ = node;
    return *this;
  }
  // Adds the edge from this stream to node `target`'s input `input` (for the API's own use).
  void connect_to(int target, int input) const {
    env_->graph().edges.push_back({node_, tag_, target, input, partitioning_, writer_, codec_,
                                   readable_type_name<T>(), side_output_});
  }
  // Adds an operator node fed by this stream.
  template <class Out>
  DataStream<Out> add_operator(const std::string& name, OperatorFactory factory) const {
    int id = env_->add_node(name, std::move(factory));
    connect_to(id, 0);
    return DataStream<Out>(*env_, id);
  }

 protected:
  DataStream with_partitioning(Partitioning partitioning, WriterFactory writer = {},
                               std::shared_ptr<const BufferCodec> codec = {}) const {
    DataStream copy = *this;
    copy.partitioning_ = partitioning;
    if (writer) copy.writer_ = std::move(writer);
    if (codec) copy.codec_ = std::move(codec);
    return copy;
  }
  StreamNode& node() { return env_->graph().node(node_); }

  template <class U>
  friend class DataStream;

  StreamEnvironment* env_;
  int node_;
  int tag_;
  std::string side_output_;  // the tag's name when tag_ != 0
  int side_output_node_ = -1;
  Partitioning partitioning_ = Partitioning::kDefault;
  WriterFactory writer_;
  std::shared_ptr<const BufferCodec> codec_;
};

// A stream partitioned by key: all records with the same key go to the same subtask, so
// per-key state is local. Rolling aggregations emit the updated aggregate for every record.
template <class T, class KeySelector>
class KeyedStream : public DataStream<T> {
 public:
  using key_type = std::decay_t<std::invoke_result_t<KeySelector&, const T&>>;

  KeyedStream(const DataStream<T>& input, KeySelector selector)
      : DataStream<T>(input), selector_(std::move(selector)) {
    this->partitioning_ = Partitioning::kHash;
    this->writer_ = hash_writer_factory<T>(selector_);
    this->codec_ = keyed_buffer_codec<T>(selector_);
  }

  const KeySelector& key_selector() const { return selector_; }

  // fn(const T& accumulated, const T& next) -> T.
  template <class F>
  DataStream<T> reduce(F fn) const {
    auto selector = selector_;
    return this->template add_operator<T>("reduce", [selector, fn] {
      return std::make_unique<operators::KeyedReduceOperator<T, KeySelector, F>>(selector, fn);
    });
  }
  // Flink's field aggregations: the field is aggregated; the other fields are the first record's.
  template <class Field>
  requires std::is_member_object_pointer_v<Field> DataStream<T> sum(Field field)
  const {
    return reduce([field](const T& acc, const T& v) {
             T out = acc;
             out.*field += v.*field;
             return out;
           })
        .name("sum");
  }
  template <class Field>
  requires std::is_member_object_pointer_v<Field> DataStream<T> min(Field field)
  const {
    return reduce([field](const T& acc, const T& v) {
             T out = acc;
             if (v.*field < out.*field) out.*field = v.*field;
             return out;
           })
        .name("min");
  }
  template <class Field>
  requires std::is_member_object_pointer_v<Field> DataStream<T> max(Field field)
  const {
    return reduce([field](const T& acc, const T& v) {
             T out = acc;
             if (out.*field < v.*field) out.*field = v.*field;
             return out;
           })
        .name("max");
  }
  // The whole record with the smallest (largest) field; the earlier one on ties.
  template <class Field>
  requires std::is_member_object_pointer_v<Field> DataStream<T> min_by(Field field)
  const {
    return reduce([field](const T& acc, const T& v) { return v.*field < acc.*field ? v : acc; })
        .name("min_by");
  }
  template <class Field>
  requires std::is_member_object_pointer_v<Field> DataStream<T> max_by(Field field)
  const {
    return reduce([field](const T& acc, const T& v) { return acc.*field < v.*field ? v : acc; })
        .name("max_by");
  }
  // A KeyedProcessFunction (keyed state and timers; see sluice/functions/keyed_process_function.h),
  // or any process function.
  template <class Out = void, class F>
  auto process(F fn) const {
    if constexpr (requires { typename F::key_type; }) {
      auto selector = selector_;
      return this->template add_operator<typename F::output_type>("keyed_process", [selector, fn] {
        return std::make_unique<operators::KeyedProcessOperator<T, KeySelector, F>>(selector, fn);
      });
    } else {
      return DataStream<T>::template process<Out>(std::move(fn));
    }
  }

  // Windows per key (see sluice/api/windowed_stream.h, included by sluice.h). `assigner`: a
  // TimeWindowSpec, SessionWindowSpec or GlobalWindowSpec (see windows.h).
  template <class Assigner>
  auto window(const Assigner& assigner) const;
  // Windows of `size` elements per key (Flink's countWindow): each fires once it is full. With a
  // slide: every `slide` elements, the last `size` ones.
  auto count_window(int64_t size) const;
  auto count_window(int64_t size, int64_t slide) const;

  using DataStream<T>::connect;
  // The broadcast state pattern: fn is a KeyedBroadcastProcessFunction<Key, T, B, Out>.
  template <class B>
  auto connect(const BroadcastStream<B>& rules) const {
    return BroadcastConnectedStream<T, KeySelector, B>(*this, rules);
  }

  // Interval join with another keyed stream (see sluice/api/joins.h).
  template <class U, class OtherSelector>
  auto interval_join(const KeyedStream<U, OtherSelector>& other) const;

  // For streams of plain numbers.
  DataStream<T> sum() const {
    static_assert(std::is_arithmetic_v<T>, "sum() without a field needs a numeric stream");
    return reduce([](T a, T b) { return a + b; }).name("sum");
  }

 private:
  KeySelector selector_;
};

template <class T>
template <class KeySelector>
KeyedStream<T, KeySelector> DataStream<T>::key_by(KeySelector selector) const {
  return KeyedStream<T, KeySelector>(*this, std::move(selector));
}

// A stream whose records reach every subtask of the operator it connects to (see
// DataStream::broadcast(descriptor)).
template <class T>
class BroadcastStream {
 public:
  BroadcastStream(DataStream<T> stream, std::vector<std::string> state_names)
      : stream_(std::move(stream)), state_names_(std::move(state_names)) {}
  const DataStream<T>& stream() const { return stream_; }
  const std::vector<std::string>& state_names() const { return state_names_; }

 private:
  DataStream<T> stream_;
  std::vector<std::string> state_names_;
};

// KeySelector void: a non-keyed main stream.
template <class T, class KeySelector, class B>
class BroadcastConnectedStream {
 public:
  using Main =
      std::conditional_t<std::is_void_v<KeySelector>, DataStream<T>, KeyedStream<T, KeySelector>>;
  BroadcastConnectedStream(Main main, BroadcastStream<B> rules)
      : main_(std::move(main)), rules_(std::move(rules)) {}
  // A KeyedBroadcastProcessFunction<Key, T, B, Out>, or without keys a
  // BroadcastProcessFunction<T, B, Out> (see sluice/functions/).
  template <class F>
  DataStream<typename F::output_type> process(F fn) const {
    using Out = typename F::output_type;
    const DataStream<T>& main = main_;
    auto connected = main.connect(rules_.stream());
    if constexpr (std::is_void_v<KeySelector>) {
      return connected.template transform<Out>("broadcast_process", [fn] {
        return std::make_unique<operators::BroadcastProcessOperator<T, B, F>>(fn);
      });
    } else {
      auto selector = main_.key_selector();
      return connected.template transform<Out>("keyed_broadcast_process", [selector, fn] {
        return std::make_unique<operators::KeyedProcessOperator<T, KeySelector, F, B>>(selector,
                                                                                       fn);
      });
    }
  }

 private:
  Main main_;
  BroadcastStream<B> rules_;
};

// Two streams of possibly different types processed by one operator with two inputs.
template <class T1, class T2>
class ConnectedStreams {
 public:
  ConnectedStreams(DataStream<T1> first, DataStream<T2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  template <class F1, class F2>
  auto map(F1 f1, F2 f2) const {
    using Out = std::decay_t<std::invoke_result_t<F1&, const T1&>>;
    static_assert(std::is_same_v<Out, std::decay_t<std::invoke_result_t<F2&, const T2&>>>,
                  "both co-map functions must return the same type");
    return add<Out>("co_map", [f1, f2] {
      return std::make_unique<operators::CoMapOperator<T1, T2, Out, F1, F2>>(f1, f2);
    });
  }
  template <class Out = void, class F1, class F2>
  auto flat_map(F1 f1, F2 f2) const {
    using O = std::conditional_t<std::is_void_v<Out>, detail::flat_map_output_t<F1>, Out>;
    return add<O>("co_flat_map", [f1, f2] {
      return std::make_unique<operators::CoFlatMapOperator<T1, T2, O, F1, F2>>(f1, f2);
    });
  }
  template <class Out = void, class F>
  auto process(F fn) const {
    using O = std::conditional_t<std::is_void_v<Out>, typename F::output_type, Out>;
    return add<O>("co_process", [fn] {
      return std::make_unique<operators::CoProcessOperator<T1, T2, O, F>>(fn);
    });
  }

  // A custom two-input operator (input 0: first, input 1: second), as Flink's transform().
  template <class Out>
  DataStream<Out> transform(const std::string& name, OperatorFactory factory) const {
    return add<Out>(name, std::move(factory));
  }
  const DataStream<T1>& first() const { return first_; }
  const DataStream<T2>& second() const { return second_; }

 private:
  template <class Out>
  DataStream<Out> add(const std::string& name, OperatorFactory factory) const {
    StreamEnvironment& env = first_.environment();
    int id = env.add_node(name, std::move(factory));
    first_.connect_to(id, 0);
    second_.connect_to(id, 1);
    return DataStream<Out>(env, id);
  }

  DataStream<T1> first_;
  DataStream<T2> second_;
};

// --- StreamEnvironment templates ---

template <class S, class Assigner>
DataStream<typename S::value_type> StreamEnvironment::from_source(
    S source, WatermarkStrategy<typename S::value_type, Assigner> strategy,
    const std::string& name) {
  DataStream<typename S::value_type> stream = from_source(std::move(source), name);
  // The connector's side outputs (e.g. dead letters) stay reachable from the returned stream.
  return stream.assign_timestamps_and_watermarks(std::move(strategy))
      .name(name + ": watermarks")
      .take_side_outputs_from(stream.node_id());
}

template <class S>
DataStream<typename S::value_type> StreamEnvironment::from_source(S source,
                                                                  const std::string& name) {
  using T = typename S::value_type;
  return from_source<T>(std::shared_ptr<Source<T>>(std::make_shared<S>(std::move(source))), name);
}

template <class T>
DataStream<T> StreamEnvironment::from_source(std::shared_ptr<Source<T>> source,
                                             const std::string& name) {
  int id = add_source_node(name, std::make_shared<TypedSourceFactory<T>>(std::move(source)));
  return DataStream<T>(*this, id);
}

template <class T>
DataStream<T> StreamEnvironment::from_collection(std::vector<T> values, const std::string& name) {
  auto shared = std::make_shared<const std::vector<T>>(std::move(values));
  auto size = static_cast<int64_t>(shared->size());
  auto source = datagen<T>([shared](int64_t i) {
                  return (*shared)[static_cast<size_t>(i)];
                }).number_of_rows(size);
  DataStream<T> stream = from_source(std::move(source), name);
  stream.set_parallelism(1);
  return stream;
}

template <class T, class... Rest>
DataStream<T> StreamEnvironment::from_elements(T first, Rest... rest) {
  return from_collection(std::vector<T>{std::move(first), static_cast<T>(std::move(rest))...},
                         "elements");
}

}  // namespace sluice
