#pragma once
// The free blocks of a paged KV pool in eviction order (vLLM's FreeKVCacheBlockQueue): an
// intrusive doubly-linked list over block ids, so that a block is appended when its last
// reference goes, taken back from the middle when a prefix-cache hit revives it, and the
// least recently freed block is popped for reuse, each in O(1) with no allocation.
// Contract: ids are in [0, n) after reset(n); a block is in the queue at most once.
#include <cstdint>
#include <vector>

namespace servesim {

class FreeBlockQueue {
 public:
  void reset(std::size_t n) {
    prev_.assign(n, -1);
    next_.assign(n, -1);
    in_.assign(n, 0);
    head_ = tail_ = -1;
    size_ = 0;
  }
  void push_back(std::int32_t b) {
    prev_[b] = tail_;
    next_[b] = -1;
    if (tail_ != -1) next_[tail_] = b; else head_ = b;
    tail_ = b;
    in_[b] = 1;
    ++size_;
  }
  void remove(std::int32_t b) {
    if (prev_[b] != -1) next_[prev_[b]] = next_[b]; else head_ = next_[b];
    if (next_[b] != -1) prev_[next_[b]] = prev_[b]; else tail_ = prev_[b];
    prev_[b] = next_[b] = -1;
    in_[b] = 0;
    --size_;
  }
  bool contains(std::int32_t b) const { return in_[b] != 0; }
  std::int64_t size() const { return size_; }
  // The least recently freed block (-1 when empty), and the walk in eviction order.
  std::int32_t front() const { return head_; }
  std::int32_t next(std::int32_t b) const { return next_[b]; }

 private:
  std::vector<std::int32_t> prev_, next_;
  std::vector<std::uint8_t> in_;
  std::int32_t head_ = -1, tail_ = -1;
  std::int64_t size_ = 0;
};

}  // namespace servesim
