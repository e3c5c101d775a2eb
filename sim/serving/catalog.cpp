#include "sim/serving/catalog.h"

namespace servesim {

Catalog::Catalog(std::string data_dir) : data_dir_(std::move(data_dir)) {}

// Loads happen under the lock: simulations built on several threads wait for the first
// load of an item instead of loading it twice (loading is rare; simulating is not).
std::shared_ptr<const ModelSpec> Catalog::model(const std::string& name, const std::string& where) {
  std::lock_guard lock(mu_);
  auto it = models_.find(name);
  if (it != models_.end()) return it->second;
  auto m = std::make_shared<const ModelSpec>(load_model(name, data_dir_, where));
  ++loads_.models;
  return models_.emplace(name, std::move(m)).first->second;
}

std::shared_ptr<const DeviceSpec> Catalog::device(const std::string& name, const std::string& where) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(name);
  if (it != devices_.end()) return it->second;
  auto d = std::make_shared<const DeviceSpec>(load_device(name, data_dir_, where));
  ++loads_.devices;
  return devices_.emplace(name, std::move(d)).first->second;
}

std::shared_ptr<const Topology> Catalog::topology(const std::string& name, const std::string& where) {
  std::lock_guard lock(mu_);
  auto it = topologies_.find(name);
  if (it != topologies_.end()) return it->second;
  auto t = std::make_shared<const Topology>(Topology::load(name, data_dir_, where));
  ++loads_.topologies;
  return topologies_.emplace(name, std::move(t)).first->second;
}

std::shared_ptr<const ICostModel> Catalog::cost_model(const ComponentConfig& config,
                                                      const std::shared_ptr<const DeviceSpec>& device) {
  const std::string key = device->name + "\n" + device->source + "\n" + config.resolved.dump();
  std::lock_guard lock(mu_);
  auto it = costs_.find(key);
  if (it != costs_.end()) return it->second.model;
  std::shared_ptr<const ICostModel> m = CostModelRegistry::get().make(config, CostDeps{*device, data_dir_});
  ++loads_.cost_models;
  costs_.emplace(key, CostEntry{device, m});
  return m;
}

Catalog::Loads Catalog::loads() const {
  std::lock_guard lock(mu_);
  return loads_;
}

}  // namespace servesim
