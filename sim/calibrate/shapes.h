#pragma once
// Shape tables for `servesim cost predict`: one operator per row (a `moe` row: its layer's
// first expert operator, whose `moe` shape gives the other two), in the columns documented
// in calibration/FITTING.md ("Querying the cost model"). Contract: an unknown column, a
// missing value an op needs, or a malformed value is an InputError naming file:line:column;
// units are accepted where a size is expected ("64MiB").
#include <string>
#include <vector>

#include "sim/model/operator.h"

namespace servesim::calib {

struct ShapeTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> cells;
  std::vector<Operator> ops;
  std::vector<double> measured_us;  // from a measured_us column, NaN when absent
};

ShapeTable read_shapes(const std::string& path);

// The columns a shapes file may have.
const std::vector<std::string>& shape_columns();

}  // namespace servesim::calib
