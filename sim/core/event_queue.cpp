#include "sim/core/event_queue.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim {

// An EventId packs the slot (low 32 bits) and the event's sequence (high 32 bits, enough to
// tell a reused slot from the event it used to hold).
namespace {
constexpr EventId make_id(std::uint32_t slot, std::uint64_t seq) { return (seq << 32) | slot; }
}  // namespace

EventId EventQueue::schedule_at(SimTime time, EventPriority priority, Callback cb) {
  SERVESIM_ASSERT(time >= now_);
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  const std::uint64_t seq = next_sequence_++;
  slots_[slot].cb = std::move(cb);
  slots_[slot].sequence = seq;
  heap_.push_back(Entry{EventKey{time, priority, seq}, slot});
  std::push_heap(heap_.begin(), heap_.end(), HeapOrder{});
  ++live_;
  return make_id(slot, seq);
}

bool EventQueue::cancel(EventId id) {
  const auto slot = static_cast<std::uint32_t>(id & 0xffffffffu);
  const std::uint64_t seq_hi = id >> 32;
  if (slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (s.sequence == 0 || (s.sequence & 0xffffffffu) != seq_hi) return false;
  // The heap entry stays; it is skipped when it surfaces (its slot no longer matches).
  s.cb = nullptr;
  s.sequence = 0;
  free_slots_.push_back(slot);
  --live_;
  return true;
}

bool EventQueue::step() {
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), HeapOrder{});
    const Entry e = heap_.back();
    heap_.pop_back();
    Slot& s = slots_[e.slot];
    if (s.sequence != e.key.sequence) continue;  // cancelled
    now_ = e.key.time;
    current_priority_ = e.key.priority;
    Callback cb = std::move(s.cb);
    s.cb = nullptr;
    s.sequence = 0;
    free_slots_.push_back(e.slot);
    --live_;
    ++fired_;
    cb();
    return true;
  }
  return false;
}

SimTime EventQueue::next_time() {
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    if (slots_[top.slot].sequence == top.key.sequence) return top.key.time;
    std::pop_heap(heap_.begin(), heap_.end(), HeapOrder{});  // drop a cancelled entry
    heap_.pop_back();
  }
  return kTimeMax;
}

void EventQueue::run(SimTime until) {
  while (!heap_.empty()) {
    // Drop cancelled entries at the top so the time check sees a live event.
    const Entry& top = heap_.front();
    if (slots_[top.slot].sequence != top.key.sequence) {
      std::pop_heap(heap_.begin(), heap_.end(), HeapOrder{});
      heap_.pop_back();
      continue;
    }
    if (top.key.time > until) break;
    step();
  }
}

}  // namespace servesim
