// The Catch2 runner, compiled once and linked into every module's test program.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
