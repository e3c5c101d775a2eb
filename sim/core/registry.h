#pragma once
// Registry of implementations by (interface, name). Contract:
// - Each implementation registers itself from its own .cpp with SERVESIM_REGISTER; there is
//   no hand-kept list. The tables live in function-local statics (no initialisation-order
//   trouble) and are written only during static initialisation, read-only afterwards, so
//   they hold no simulation state.
// - An implementation T declares `struct Config` with `static Config parse(Params&)`, and a
//   constructor T(const Config&, Args...). The registry parses, rejects unknown keys, then
//   builds; parse() on an empty doc-mode Params documents the parameters.
// - Name lookups happen when a simulation is built, never on the hot path.
#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/params.h"

namespace servesim {

struct RegistryEntryInfo {
  std::string name;
  std::string description;
  std::vector<ParamDoc> params;
};

// Every registry, by interface name, for `servesim list`.
class RegistryIndex {
 public:
  using Lister = std::function<std::vector<RegistryEntryInfo>()>;
  static RegistryIndex& get();
  void add(const std::string& interface_name, Lister lister) { listers_[interface_name] = std::move(lister); }
  const std::map<std::string, Lister>& all() const { return listers_; }

 private:
  std::map<std::string, Lister> listers_;
};

// A component's configuration parsed and validated but not yet built: the typed Config of
// the implementation named by "impl", its resolved parameters (defaults filled in) and what
// the Config exports to whoever builds the component (e.g. a scheduler's step budgets, which
// size the memory plan before the scheduler exists). Immutable once parsed; cheap to copy.
struct ComponentConfig {
  std::string impl;
  std::string where;               // config path for errors ("scenario.json: scheduler")
  nlohmann::json resolved;         // {"impl": ..., every parameter with its default}
  std::shared_ptr<const void> typed;  // the implementation's Config
  std::any exports;                // Config::exports() when the Config declares it, else empty
  bool empty() const { return impl.empty(); }
};

// Each interface header specialises this with `static constexpr const char* value`.
template <class Interface>
struct InterfaceName;

template <class Interface, class... Args>
class Registry {
 public:
  struct Entry {
    std::string description;
    std::function<void(Params&)> describe;
    std::function<ComponentConfig(Params&)> parse;  // parses and finishes p
    std::function<std::unique_ptr<Interface>(const ComponentConfig&, Args...)> make;
  };

  static Registry& get() {
    static Registry instance;
    return instance;
  }

  void add(const std::string& name, Entry entry) {
    SERVESIM_ASSERT(entries_.find(name) == entries_.end());
    entries_.emplace(name, std::move(entry));
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  // Parses and validates `{"impl": name, ...params}` (unknown keys and bad values throw
  // InputError naming `where`). Nothing is built.
  ComponentConfig parse(const nlohmann::json& config, const std::string& where) const {
    Params p(config, where);
    const std::string impl = p.string("impl", std::nullopt, "implementation name (`servesim list`)");
    auto it = entries_.find(impl);
    if (it == entries_.end()) bad_value(p.where("impl"), impl, "a registered " + interface_name() + " (" + names() + ")");
    ComponentConfig c = it->second.parse(p);
    c.impl = impl;
    c.where = where;
    c.resolved = p.resolved();
    return c;
  }

  // Builds a component from a parsed configuration.
  std::unique_ptr<Interface> make(const ComponentConfig& c, Args... args) const {
    auto it = entries_.find(c.impl);
    SERVESIM_ASSERT(it != entries_.end());
    return it->second.make(c, std::forward<Args>(args)...);
  }

  // parse() then make(). The resolved parameters are stored in *resolved if given.
  std::unique_ptr<Interface> build(const nlohmann::json& config, const std::string& where, nlohmann::json* resolved,
                                   Args... args) const {
    const ComponentConfig c = parse(config, where);
    if (resolved) *resolved = c.resolved;
    return make(c, std::forward<Args>(args)...);
  }

  std::vector<RegistryEntryInfo> list() const {
    std::vector<RegistryEntryInfo> out;
    for (const auto& [name, e] : entries_) {
      Params p = Params::describe();
      p.consume("impl", "implementation name");
      e.describe(p);
      out.push_back({name, e.description, p.docs()});
    }
    return out;
  }

  std::string names() const {
    std::string s;
    for (const auto& [name, e] : entries_) s += (s.empty() ? "" : ", ") + name;
    return s;
  }

  static std::string interface_name() { return InterfaceName<Interface>::value; }

 private:
  Registry() {
    RegistryIndex::get().add(interface_name(), [this] { return list(); });
  }
  std::map<std::string, Entry> entries_;
};

template <class Interface, class Impl, class... Args>
struct Registrar {
  Registrar(const char* name, const char* description) {
    using R = Registry<Interface, Args...>;
    typename R::Entry e;
    e.description = description;
    e.describe = [](Params& p) { (void)Impl::Config::parse(p); };
    e.parse = [](Params& p) {
      using Cfg = typename Impl::Config;
      auto cfg = std::make_shared<const Cfg>(Cfg::parse(p));
      p.finish();
      ComponentConfig c;
      if constexpr (requires(const Cfg& x) { x.exports(); }) c.exports = cfg->exports();
      c.typed = std::move(cfg);
      return c;
    };
    e.make = [](const ComponentConfig& c, Args... args) -> std::unique_ptr<Interface> {
      const auto& cfg = *static_cast<const typename Impl::Config*>(c.typed.get());
      return std::make_unique<Impl>(cfg, std::forward<Args>(args)...);
    };
    R::get().add(name, std::move(e));
  }
};

}  // namespace servesim

#define SERVESIM_CONCAT_INNER(a, b) a##b
#define SERVESIM_CONCAT(a, b) SERVESIM_CONCAT_INNER(a, b)
// Registers Impl under `name` in RegistryType (an alias of Registry<Interface, Args...>).
#define SERVESIM_REGISTER(RegistryType, Impl, name, description)                       \
  namespace {                                                                           \
  const auto SERVESIM_CONCAT(servesim_registrar_, __LINE__) =                           \
      ::servesim::RegistrarFor<RegistryType, Impl>::type(name, description);            \
  }

namespace servesim {
template <class R, class Impl>
struct RegistrarFor;
template <class Interface, class... Args, class Impl>
struct RegistrarFor<Registry<Interface, Args...>, Impl> {
  using type = Registrar<Interface, Impl, Args...>;
};
}  // namespace servesim
