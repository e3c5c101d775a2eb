#pragma once
// Cost models: the time of one operator on one device. Contract:
// - predict() is pure and const: the same operator gives the same answer; it never mutates
//   shared state, so one model may serve many replicas and threads.
// - It returns nullopt when the model has nothing to say about that operator (a measured
//   table without that family, a fit outside its domain); a composite then asks the next
//   model. A model used alone must answer every operator class.
// - Prediction::source names the model that answered (a stable string owned by the model),
//   so every prediction can be traced to a profile file and its hash.
// - The time is for ONE execution (the caller multiplies by Operator::repeat) and excludes
//   nothing the device would spend on that kernel (launch-to-end).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/operator.h"

namespace servesim {

struct Prediction {
  SimTime ns = 0;
  std::string_view source;
};

struct CostDeps {
  const DeviceSpec& device;
  std::string data_dir;  // where calibration/ profiles are looked up
};

// What a cost model may keep between calls for one operator that a caller prices again and
// again while only its sizes change (a merged decode run's attention): opaque to the caller,
// who owns it and hands the same one back each time.
class CostCursor {
 public:
  virtual ~CostCursor() = default;
  const void* owner = nullptr;  // the cost model that made it (the only one that reads it)
};

class ICostModel {
 public:
  virtual ~ICostModel() = default;
  virtual std::optional<Prediction> predict(const Operator& op) const = 0;
  // predict(op), exactly, keeping in `cursor` (null at first) lookups the next call for the
  // same operator may reuse. The default keeps nothing.
  virtual std::optional<Prediction> predict_with(const Operator& op, std::unique_ptr<CostCursor>& cursor) const {
    (void)cursor;
    return predict(op);
  }
};

template <>
struct InterfaceName<ICostModel> {
  static constexpr const char* value = "cost_model";
};
using CostModelRegistry = Registry<ICostModel, const CostDeps&>;

}  // namespace servesim
