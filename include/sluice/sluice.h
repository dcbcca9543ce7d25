// Everything a Sluice job needs: the environment, DataStream API, built-in sources and sinks, and
// the file connector. Include narrower headers to keep a translation unit's build time down.
#pragma once

#include "sluice/api/data_stream.h"
#include "sluice/api/datagen.h"
#include "sluice/api/environment.h"
#include "sluice/api/functions.h"
#include "sluice/api/sinks.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/connectors/file_sink.h"
#include "sluice/connectors/file_source.h"
#include "sluice/core/config.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/state/broadcast_state.h"
#include "sluice/state/keyed_state.h"
#include "sluice/state/operator_state.h"
#include "sluice/time/watermarks.h"
#include "sluice/window/joins.h"
#include "sluice/window/windowed_stream.h"
