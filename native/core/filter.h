// The opt-in collection filter: exact NSIDs ("app.bsky.feed.post") and
// prefixes ending in ".*" ("app.bsky.feed.*"). Empty means keep everything.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fh {

class CollectionFilter {
 public:
  // A bare "*" keeps everything; "a.b.*" keeps "a.b.<anything>".
  void add(std::string_view pattern);
  bool active() const { return !all_ && (!exact_.empty() || !prefixes_.empty()); }
  bool keeps(std::string_view collection) const;

 private:
  bool all_ = false;
  std::vector<std::string> exact_;
  std::vector<std::string> prefixes_;  // with the trailing '.'
};

}  // namespace fh
