# Helpers shared by tests/, examples/ and bench/: warning flags, sanitizers and one
# function per kind of target, so that a module only drops files into its folder.

# Warnings for eigenrec's own code. Eigen comes in through an imported target, so its
# headers are SYSTEM includes and do not trip these.
function(eigenrec_target_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(EIGENREC_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# ASan + UBSan for a test or example when EIGENREC_SANITIZE is on. -O1 keeps
# Eigen-heavy tests fast enough while the sanitizers still see every access.
# UBSan's `null` and `alignment` checks are left out: they instrument every load and
# store, which doubled the compile time of the Eigen-heavy tests (mha_test: 200 s
# against 122 s for UBSan without them, 112 s for ASan alone), while a null access is
# caught by ASan anyway and the library reads no type-punned or misaligned data. Every
# other UBSan check (integer overflow, shifts, bounds, division by zero, vptr, pointer
# overflow, invalid bool / enum values, missing returns) stays on.
function(eigenrec_target_sanitize target)
  if(EIGENREC_SANITIZE)
    set(flags -fsanitize=address,undefined -fno-sanitize=alignment,null -fno-omit-frame-pointer
      -fno-sanitize-recover=all)
    target_compile_options(${target} PRIVATE ${flags} -O1)
    target_link_options(${target} PRIVATE ${flags})
  endif()
endfunction()

function(eigenrec_target_native target)
  if(EIGENREC_NATIVE AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -march=native)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC 12 reports false maybe-uninitialized warnings inside Eigen's AVX-512 kernels
      # (products and reductions), which are not eigenrec's code.
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
endfunction()

# eigenrec_add_example(<name> <source>): an example program, built and (when tests are
# on) run by CTest with no arguments on its embedded data.
function(eigenrec_add_example name source)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE eigenrec::eigenrec)
  eigenrec_target_warnings(${name})
  eigenrec_target_sanitize(${name})
  eigenrec_target_native(${name})
  if(EIGENREC_BUILD_TESTS)
    add_test(NAME "example: ${name}" COMMAND ${name})
    set_tests_properties("example: ${name}" PROPERTIES LABELS example)
  endif()
endfunction()

# eigenrec_add_benchmark(<name> <source>): a Google Benchmark program. Always optimised;
# EIGENREC_NATIVE adds -march=native.
function(eigenrec_add_benchmark name source)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE eigenrec::eigenrec benchmark::benchmark)
  target_include_directories(${name} PRIVATE "${PROJECT_SOURCE_DIR}/bench")  # support/*.hpp
  target_compile_options(${name} PRIVATE -O3)
  target_compile_definitions(${name} PRIVATE NDEBUG)
  eigenrec_target_warnings(${name})
  eigenrec_target_native(${name})
  set_property(GLOBAL APPEND PROPERTY EIGENREC_BENCHMARKS ${name})
endfunction()
