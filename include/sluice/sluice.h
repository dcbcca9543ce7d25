// Everything a Sluice job needs: the environment, DataStream API, windows and joins, built-in
// sources and sinks, and the file connector. Include narrower headers to keep a translation
// unit's build time down. JSON is opt-in: include sluice/formats/json.h to read or write it.
#pragma once

#include "sluice/api/data_stream.h"
#include "sluice/api/datagen.h"
#include "sluice/api/environment.h"
#include "sluice/api/joins.h"
#include "sluice/api/sinks.h"
#include "sluice/api/windowed_stream.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/connectors/file_sink.h"
#include "sluice/connectors/file_source.h"
#include "sluice/core/config.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/functions/broadcast_process_function.h"
#include "sluice/functions/join_function.h"
#include "sluice/functions/keyed_process_function.h"
#include "sluice/functions/process_function.h"
#include "sluice/functions/window_function.h"
#include "sluice/state/broadcast_state.h"
#include "sluice/state/operator_state.h"
#include "sluice/state/state_descriptors.h"
#include "sluice/time/watermarks.h"
#include "sluice/window/triggers.h"
#include "sluice/window/windows.h"
