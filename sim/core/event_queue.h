#pragma once
// The event queue. Contract:
// - Events fire in one total, deterministic order: (time, priority, insertion sequence),
//   all ascending. That order is defined once, in EventOrder, and unit-tested.
// - schedule() never fires an event in the past: time must be >= now().
// - cancel() of a pending event guarantees it never fires; cancelling an event that has
//   already fired or been cancelled is a no-op that returns false.
// - The queue owns no simulation state; callbacks capture what they need.
#include <cstdint>
#include <functional>
#include <vector>

#include "sim/core/time.h"

namespace servesim {

// Named priorities for events at the same instant; lower fires first.
enum class EventPriority : std::int32_t {
  kArrival = 0,        // arrivals first, so a batch formed at the same instant sees them
  kTransfer = 10,      // KV transfers and memory events land before batches are formed
  kStepStart = 15,     // an idle replica given work forms its step after every arrival and transfer at t
  kIterationEnd = 20,  // a replica's iteration ends; it may start the next one at once
  kSample = 30,        // time-series samples observe the state after every change at t
  kControl = 40,       // end-of-run and other control events, last
};

using EventId = std::uint64_t;

struct EventKey {
  SimTime time;
  EventPriority priority;
  std::uint64_t sequence;
};

// The single comparator of the event order: true when a fires before b.
struct EventOrder {
  bool operator()(const EventKey& a, const EventKey& b) const {
    if (a.time != b.time) return a.time < b.time;
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.sequence < b.sequence;
  }
};

class EventQueue {
 public:
  using Callback = std::function<void()>;

  SimTime now() const { return now_; }
  // Priority of the event firing now (kControl outside any event): what it may observe of
  // other events at the same instant (those of lower priority have fired).
  EventPriority current_priority() const { return current_priority_; }
  bool empty() const { return live_ == 0; }
  std::size_t size() const { return live_; }
  std::uint64_t fired() const { return fired_; }

  EventId schedule_at(SimTime time, EventPriority priority, Callback cb);
  EventId schedule_in(SimTime delay, EventPriority priority, Callback cb) {
    return schedule_at(now_ + delay, priority, std::move(cb));
  }
  bool cancel(EventId id);

  // Time of the earliest pending event (kTimeMax when none).
  SimTime next_time();

  // Fires the next event; returns false when none is left.
  bool step();
  // Fires events until the queue is empty or the next event is later than `until`.
  void run(SimTime until = kTimeMax);

 private:
  struct Entry {
    EventKey key;
    std::uint32_t slot;
  };
  struct HeapOrder {
    bool operator()(const Entry& a, const Entry& b) const { return EventOrder{}(b.key, a.key); }
  };
  struct Slot {
    Callback cb;
    std::uint64_t sequence = 0;  // identifies the live event in this slot; 0 = free
  };

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  SimTime now_ = 0;
  EventPriority current_priority_ = EventPriority::kControl;
  std::uint64_t next_sequence_ = 1;
  std::size_t live_ = 0;
  std::uint64_t fired_ = 0;
};

}  // namespace servesim
