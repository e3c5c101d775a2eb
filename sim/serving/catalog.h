#pragma once
// The catalog: models, devices, topologies and cost models (with the fitted profiles they
// read) loaded once and shared read-only by every simulation that uses it. Contract:
// - Each item is loaded (and, for profiles, hashed) the first time it is asked for and
//   kept for the catalog's lifetime; later requests return the same object. Sweeps and
//   plan searches build thousands of simulations from one catalog without re-reading files.
// - Items are immutable once loaded; cost models are pure (ICostModel's contract), so one
//   model serves every replica, simulation and thread. All methods are thread-safe.
// - Errors are InputErrors naming `where` (the scenario field that asked); a failed load
//   is not cached.
// - loads() counts the loads that really read files, for tests.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sim/core/registry.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"
#include "sim/hardware/prices.h"
#include "sim/hardware/topology.h"
#include "sim/model/model_spec.h"

namespace servesim {

class Catalog {
 public:
  explicit Catalog(std::string data_dir);

  const std::string& data_dir() const { return data_dir_; }
  std::shared_ptr<const ModelSpec> model(const std::string& name, const std::string& where);
  std::shared_ptr<const DeviceSpec> device(const std::string& name, const std::string& where);
  std::shared_ptr<const Topology> topology(const std::string& name, const std::string& where);
  // The cost model `config` describes for `device`, built once per (device, resolved config).
  std::shared_ptr<const ICostModel> cost_model(const ComponentConfig& config, const std::shared_ptr<const DeviceSpec>& device);

  struct Loads {
    std::int64_t models = 0, devices = 0, topologies = 0, cost_models = 0;
  };
  Loads loads() const;
  // hardware_profiles/prices.json, read once (a malformed file is an InputError).
  const PriceBook& prices();

 private:
  template <class T, class Load>
  std::shared_ptr<const T> cached(std::map<std::string, std::shared_ptr<const T>>& items, const std::string& name,
                                  std::int64_t& count, Load load);

  std::string data_dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const ModelSpec>> models_;
  std::map<std::string, std::shared_ptr<const DeviceSpec>> devices_;
  std::map<std::string, std::shared_ptr<const Topology>> topologies_;
  // A cost model keeps a reference to its device: the entry holds both.
  struct CostEntry {
    std::shared_ptr<const DeviceSpec> device;
    std::shared_ptr<const ICostModel> model;
  };
  std::map<std::string, CostEntry> costs_;
  std::unique_ptr<PriceBook> prices_;
  Loads loads_;
};

}  // namespace servesim
