#include "sim/serving/catalog.h"

namespace servesim {

Catalog::Catalog(std::string data_dir) : data_dir_(std::move(data_dir)) {}

// Loads happen under the lock: simulations built on several threads wait for the first
// load of an item instead of loading it twice (loading is rare; simulating is not).
template <class T, class Load>
std::shared_ptr<const T> Catalog::cached(std::map<std::string, std::shared_ptr<const T>>& items, const std::string& name,
                                         std::int64_t& count, Load load) {
  std::lock_guard lock(mu_);
  auto it = items.find(name);
  if (it != items.end()) return it->second;
  auto item = std::make_shared<const T>(load());
  ++count;
  return items.emplace(name, std::move(item)).first->second;
}

std::shared_ptr<const ModelSpec> Catalog::model(const std::string& name, const std::string& where) {
  return cached(models_, name, loads_.models, [&] { return load_model(name, data_dir_, where); });
}

std::shared_ptr<const DeviceSpec> Catalog::device(const std::string& name, const std::string& where) {
  return cached(devices_, name, loads_.devices, [&] { return load_device(name, data_dir_, where); });
}

const PriceBook& Catalog::prices() {
  std::lock_guard lock(mu_);
  if (!prices_) prices_ = std::make_unique<PriceBook>(PriceBook::load(data_dir_));
  return *prices_;
}

std::shared_ptr<const Topology> Catalog::topology(const std::string& name, const std::string& where) {
  return cached(topologies_, name, loads_.topologies, [&] { return Topology::load(name, data_dir_, where); });
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
