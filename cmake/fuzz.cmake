# IG_FUZZ=ON (make fuzz): the libFuzzer targets of fuzz/ and only the libraries they link, all
# built with clang's -fsanitize=fuzzer-no-link,address,undefined so that coverage guides the
# fuzzer through our code and any memory error or undefined behaviour ends the run.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "IG_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
endif()

target_compile_options(ig_options INTERFACE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  -fno-omit-frame-pointer -g)
target_link_options(ig_options INTERFACE -fsanitize=address,undefined)

# The modules holding the parsers. EXCLUDE_FROM_ALL: a library is built only when a fuzz target
# links it, so the server, the store and libvips code are never compiled here.
foreach(module core billing api app)
  add_subdirectory(src/${module} EXCLUDE_FROM_ALL)
endforeach()

add_subdirectory(fuzz)
