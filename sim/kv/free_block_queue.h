#pragma once
// The free blocks of a paged KV pool in eviction order (vLLM's FreeKVCacheBlockQueue): a
// block is appended when its last reference goes, taken back from the middle when a
// prefix-cache hit revives it, and the least recently freed block is popped for reuse, each
// in amortised O(1).
// Never-used blocks: vLLM's queue starts as every block in id order and freed blocks go to
// its back, so the blocks never handed out are always its front, in id order. They are kept
// as a range [fresh, end) instead of queue entries, and a block's entry is created when it
// first leaves that range: a pool of a million blocks costs nothing until it is used, and
// the order blocks are handed out in is the same.
// Freed blocks sit in an array in the order they were appended, each block knowing its
// entry's sequence number (the position it was appended at); a block taken back from the
// middle leaves a hole (-1) behind, which the walks skip and a compaction drops. Walking the
// queue reads the array in order (the next blocks are known without waiting for a load per
// block, unlike a linked list's next pointers).
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
    seq_.assign(static_cast<std::size_t>(first), kOut);
    entries_.clear();
    head_ = 0;
    base_ = 0;
    listed_ = 0;
    holes_ = 0;
  }
  void push_back(std::int32_t b) {
    if (holes_ > listed_ + kSlack) compact();
    seq_[b] = base_ + static_cast<std::int64_t>(entries_.size());
    entries_.push_back(b);
    ++listed_;
  }
  void remove(std::int32_t b) {
    const std::int64_t i = seq_[b] - base_;
    entries_[static_cast<std::size_t>(i)] = kHole;
    seq_[b] = kOut;
    --listed_;
    ++holes_;
    if (i == head_) skip_holes();
  }
  // Takes the front block (the queue must not be empty).
  std::int32_t pop_front() {
    if (fresh_ < end_) {
      seq_.push_back(kOut);
      return fresh_++;
    }
    const std::int32_t b = entries_[static_cast<std::size_t>(head_)];
    seq_[b] = kOut;
    --listed_;
    ++head_;
    skip_holes();
    return b;
  }
  bool contains(std::int32_t b) const { return b < fresh_ ? seq_[b] != kOut : b < end_; }
  std::int64_t size() const { return listed_ + (end_ - fresh_); }
  // Blocks [0, handed_out()) have left the never-used range (the others are free).
  std::int32_t handed_out() const { return fresh_; }
  // The least recently freed block (-1 when empty), and the walk in eviction order.
  std::int32_t front() const {
    if (fresh_ < end_) return fresh_;
    return head_ < static_cast<std::int64_t>(entries_.size()) ? entries_[static_cast<std::size_t>(head_)] : -1;
  }
  std::int32_t next(std::int32_t b) const {
    if (b >= fresh_) return b + 1 < end_ ? b + 1 : listed_at(head_);
    return listed_at(seq_[b] - base_ + 1);
  }
  // The queue's first min(n, size()) blocks in order, into out (what n pop_front() calls
  // would return); returns how many.
  std::int64_t front_n(std::int64_t n, std::int32_t* out) const {
    std::int64_t k = 0;
    for (std::int64_t b = fresh_; b < end_ && k < n; ++b) out[k++] = static_cast<std::int32_t>(b);
    for (auto i = static_cast<std::size_t>(head_); i < entries_.size() && k < n; ++i) {
      if (valid(i)) out[k++] = entries_[i];
    }
    return k;
  }
  // Entries held (holes and the consumed front included): O(size() + a constant slack).
  std::size_t footprint() const { return entries_.size(); }
  // Cache hint (no effect): block b's entry.
  void prefetch(std::int32_t b) const {
    if (b >= 0 && b < fresh_) __builtin_prefetch(&seq_[static_cast<std::size_t>(b)]);
  }

 private:
  static constexpr std::int64_t kOut = -1;   // the sequence number of a block not in the queue
  static constexpr std::int64_t kSlack = 64;  // holes tolerated beyond the listed blocks
  static constexpr std::int32_t kHole = -1;   // the entry of a block taken back

  bool valid(std::size_t i) const { return entries_[i] != kHole; }
  // The first listed block at or after array position i (-1: none).
  std::int32_t listed_at(std::int64_t i) const {
    for (auto j = static_cast<std::size_t>(i); j < entries_.size(); ++j) {
      if (valid(j)) return entries_[j];
    }
    return -1;
  }
  // Keeps head_ on a listed block (or the end), and the consumed front of the array short.
  void skip_holes() {
    const auto n = static_cast<std::int64_t>(entries_.size());
    while (head_ < n && !valid(static_cast<std::size_t>(head_))) {
      ++head_;
      --holes_;
    }
    if (head_ >= kSlack && 2 * head_ >= n) {
      entries_.erase(entries_.begin(), entries_.begin() + head_);
      base_ += head_;
      head_ = 0;
    }
  }
  // Drops every hole (each listed block renumbered in place: the order is unchanged).
  void compact() {
    std::size_t out = 0;
    for (auto i = static_cast<std::size_t>(head_); i < entries_.size(); ++i) {
      if (!valid(i)) continue;
      const std::int32_t b = entries_[i];
      seq_[b] = base_ + static_cast<std::int64_t>(out);
      entries_[out++] = b;
    }
    entries_.resize(out);
    head_ = 0;
    holes_ = 0;
  }

  std::vector<std::int64_t> seq_;    // per handed-out block: its entry's sequence number, or kOut
  // Freed blocks in the order appended (kHole: taken back since); [0, head_) consumed.
  std::vector<std::int32_t> entries_;
  std::int64_t head_ = 0;            // the first entry not consumed (a listed one, or the end)
  std::int64_t base_ = 0;            // the sequence number of entries_[0]
  std::int64_t listed_ = 0;          // blocks in the queue among the handed-out ones
  std::int64_t holes_ = 0;           // holes in [head_, end)
  std::int32_t fresh_ = 0;           // first never-used block
  std::int64_t end_ = 0;
};

}  // namespace servesim
