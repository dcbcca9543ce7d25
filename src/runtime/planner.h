// Planning a job (see sluice/runtime/execution_plan.h), with what the embedded executor needs
// beside the plan to deploy it: the checkpoint it resumes from, loaded and verified once, and the
// properties every checkpoint of the job stores to describe it.
//
// Threading: a plain function of its arguments.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/runtime/execution_plan.h"

namespace sluice::runtime {

struct PlannedJob {
  ExecutionPlan plan;
  std::optional<CompletedCheckpoint> checkpoint;  // what plan.restore reads from
  std::map<std::string, std::string> checkpoint_properties;
};

PlannedJob plan(const StreamGraph& graph, const JobOptions& options);

}  // namespace sluice::runtime
