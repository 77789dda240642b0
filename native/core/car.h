// CAR v1 reader: the header (version 1 and its roots) and an index of the
// sections, pointing into the CAR's own bytes so that records are found by
// CID without being copied. Reused across frames; it keeps its capacity.
#pragma once

#include <string>
#include <vector>

#include "bytes.h"

namespace fh {

struct CarBlock {
  Span cid;   // binary CID as stored in the section
  Span data;  // the block's bytes
};

class CarReader {
 public:
  // Parses the header and indexes every section. max_blocks bounds the
  // index so that a hostile CAR of tiny sections cannot grow it unbounded.
  bool parse(Span car, size_t max_blocks, std::string& why);

  const std::vector<Span>& roots() const { return roots_; }
  const std::vector<CarBlock>& blocks() const { return blocks_; }
  // The block whose CID has exactly these bytes, or nullptr.
  const CarBlock* find(Span cid);

 private:
  void build_table();

  std::vector<Span> roots_;
  std::vector<CarBlock> blocks_;
  std::vector<uint32_t> table_;  // open addressing, 1-based block indexes
  bool table_ready_ = false;
};

}  // namespace fh
