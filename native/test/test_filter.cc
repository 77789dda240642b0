#include "check.h"
#include "filter.h"

TEST(filter_empty_keeps_everything) {
  fh::CollectionFilter f;
  CHECK(!f.active());
  CHECK(f.keeps("app.bsky.feed.post"));
  CHECK(f.keeps(""));
}

TEST(filter_exact) {
  fh::CollectionFilter f;
  f.add("app.bsky.feed.post");
  CHECK(f.active());
  CHECK(f.keeps("app.bsky.feed.post"));
  CHECK(!f.keeps("app.bsky.feed.postgate"));
  CHECK(!f.keeps("app.bsky.feed.pos"));
  CHECK(!f.keeps("app.bsky.feed.like"));
}

TEST(filter_prefix) {
  fh::CollectionFilter f;
  f.add("app.bsky.feed.*");
  f.add("app.bsky.graph.follow");
  CHECK(f.keeps("app.bsky.feed.post"));
  CHECK(f.keeps("app.bsky.feed.like"));
  CHECK(f.keeps("app.bsky.graph.follow"));
  CHECK(!f.keeps("app.bsky.feed"));  // the prefix needs a name after its dot
  CHECK(!f.keeps("app.bsky.feed."));
  CHECK(!f.keeps("app.bsky.feedx.post"));
  CHECK(!f.keeps("app.bsky.graph.block"));
}

TEST(filter_star) {
  fh::CollectionFilter f;
  f.add("app.bsky.feed.post");
  f.add("*");
  CHECK(!f.active());  // "*" keeps everything, so there is nothing to filter
  CHECK(f.keeps("com.example.anything"));
}
