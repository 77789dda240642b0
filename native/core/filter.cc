#include "filter.h"

namespace fh {

void CollectionFilter::add(std::string_view pattern) {
  if (pattern == "*") {
    all_ = true;
  } else if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == ".*") {
    prefixes_.emplace_back(pattern.substr(0, pattern.size() - 1));
  } else {
    exact_.emplace_back(pattern);
  }
}

bool CollectionFilter::keeps(std::string_view c) const {
  if (!active()) return true;
  for (const std::string& e : exact_) {
    if (c == e) return true;
  }
  for (const std::string& p : prefixes_) {
    if (c.size() > p.size() && c.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

}  // namespace fh
