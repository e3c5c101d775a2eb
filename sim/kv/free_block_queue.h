#pragma once
// The free blocks of a paged KV pool in eviction order (vLLM's FreeKVCacheBlockQueue): an
// intrusive doubly-linked list over block ids, so that a block is appended when its last
// reference goes, taken back from the middle when a prefix-cache hit revives it, and the
// least recently freed block is popped for reuse, each in O(1) with no allocation.
// Never-used blocks: vLLM's queue starts as every block in id order and freed blocks go to
// its back, so the blocks never handed out are always its front, in id order. They are kept
// as a range [fresh, end) instead of list entries, and a block's list entry is created when
// it first leaves that range: a pool of a million blocks costs nothing until it is used, and
// the order blocks are handed out in is the same.
// Contract: ids are in [first, end) after reset(first, end); only blocks that pop_front
// handed out are pushed back or removed; a block is in the queue at most once.
#include <cstdint>
#include <vector>

namespace servesim {

class FreeBlockQueue {
 public:
  void reset(std::int32_t first, std::int64_t end) {
    fresh_ = first;
    end_ = end;
    links_.assign(static_cast<std::size_t>(first), Link{});
    head_ = tail_ = -1;
    listed_ = 0;
  }
  void push_back(std::int32_t b) {
    links_[b] = Link{tail_, -1};
    if (tail_ != -1) links_[tail_].next = b; else head_ = b;
    tail_ = b;
    ++listed_;
  }
  void remove(std::int32_t b) {
    const Link l = links_[b];
    if (l.prev != -1) links_[l.prev].next = l.next; else head_ = l.next;
    if (l.next != -1) links_[l.next].prev = l.prev; else tail_ = l.prev;
    links_[b] = Link{};
    --listed_;
  }
  // Takes the front block (the queue must not be empty).
  std::int32_t pop_front() {
    if (fresh_ < end_) {
      links_.emplace_back();
      return fresh_++;
    }
    const std::int32_t b = head_;
    remove(b);
    return b;
  }
  bool contains(std::int32_t b) const { return b < fresh_ ? links_[b].prev != kOut : b < end_; }
  std::int64_t size() const { return listed_ + (end_ - fresh_); }
  // Blocks [0, handed_out()) have left the never-used range (the others are free).
  std::int32_t handed_out() const { return fresh_; }
  // The least recently freed block (-1 when empty), and the walk in eviction order.
  std::int32_t front() const { return fresh_ < end_ ? fresh_ : head_; }
  std::int32_t next(std::int32_t b) const {
    if (b >= fresh_) return b + 1 < end_ ? b + 1 : head_;
    return links_[b].next;
  }
  // Cache hint (no effect): block b's links.
  void prefetch(std::int32_t b) const {
    if (b >= 0 && b < fresh_) __builtin_prefetch(&links_[static_cast<std::size_t>(b)]);
  }

 private:
  static constexpr std::int32_t kOut = -2;  // prev of a block not in the queue
  struct Link {  // a block's neighbours in the queue (-1: none), together in one entry
    std::int32_t prev = kOut, next = -1;
  };
  std::vector<Link> links_;
  std::int32_t head_ = -1, tail_ = -1;
  std::int64_t listed_ = 0;           // blocks in the list (freed after use)
  std::int32_t fresh_ = 0;            // first never-used block
  std::int64_t end_ = 0;
};

}  // namespace servesim
