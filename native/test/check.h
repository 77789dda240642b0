// A tiny test harness: TEST registers a function, CHECK and CHECK_EQ report
// failures with file:line and carry on, main (check.cc) runs everything.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "bytes.h"

namespace check {

void add_test(const char* name, void (*fn)());
bool report(bool ok, const char* file, int line, const std::string& what);

struct Registrar {
  Registrar(const char* name, void (*fn)()) { add_test(name, fn); }
};

std::string quote(std::string_view s);

template <class T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
    return std::to_string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return quote(v);
  } else if constexpr (std::is_same_v<T, fh::Span>) {
    return quote(v.view());
  } else if constexpr (std::is_pointer_v<T>) {
    return v ? "(pointer)" : "nullptr";
  } else {
    return "(value)";
  }
}

// Integers of different signedness compare by value, without warnings.
template <class A, class B>
bool equal(const A& a, const B& b) {
  if constexpr (std::is_integral_v<A> && std::is_integral_v<B> && std::is_signed_v<A> != std::is_signed_v<B>) {
    if constexpr (std::is_signed_v<A>)
      return a >= 0 && std::make_unsigned_t<A>(a) == b;
    else
      return b >= 0 && a == std::make_unsigned_t<B>(b);
  } else {
    return a == b;
  }
}

template <class A, class B>
bool report_eq(const A& a, const B& b, const char* file, int line, const char* ta, const char* tb) {
  if (equal(a, b)) return report(true, file, line, "");
  return report(false, file, line, std::string("CHECK_EQ(") + ta + ", " + tb + "): " + show(a) + " != " + show(b));
}

}  // namespace check

#define TEST(name)                                              \
  static void test_##name();                                    \
  static check::Registrar registrar_##name(#name, test_##name); \
  static void test_##name()

#define CHECK(cond) check::report(bool(cond), __FILE__, __LINE__, "CHECK(" #cond ")")
#define CHECK_EQ(a, b) check::report_eq((a), (b), __FILE__, __LINE__, #a, #b)
