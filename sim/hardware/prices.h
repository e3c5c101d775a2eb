#pragma once
// Device rental prices from hardware_profiles/prices.json (schema servesim.prices/1): per
// device, $ per GPU-hour on demand and reserved, each with its source and the date read.
// Contract: the file is the one place prices live; a device without a price of the asked
// tier is an InputError naming the device and the file (never a made-up price).
#include <map>
#include <optional>
#include <string>

namespace servesim {

struct Price {
  double usd_per_gpu_hour = 0;
  std::string source;  // the named price list
  std::string date;    // when it was read
};

class PriceBook {
 public:
  // Reads `<data_dir>/hardware_profiles/prices.json` (or `path` when given).
  static PriceBook load(const std::string& data_dir, const std::string& path = "");
  // The price of `device` in `tier` (on_demand | reserved); InputError naming `where` if none.
  const Price& price(const std::string& device, const std::string& tier, const std::string& where) const;
  // The same, or nullptr when the device has no price of that tier.
  const Price* find(const std::string& device, const std::string& tier) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::map<std::string, Price>> prices_;  // device -> tier -> price
  std::map<std::string, std::string> notes_;                    // device -> why it has none
};

}  // namespace servesim
