# How every adgraph library is declared.
#
# Headers are included as <adgraph/autodiff/tensor.h>, <adgraph/nn/linear.h>, ...: installed under
# include/adgraph/, and in the build tree through ${ADGRAPH_INCLUDE_DIR}/adgraph/<folder>, a symlink
# to the source folder. So a consumer's own nn/ or data/ folder can never shadow ours, and the
# source root itself is never on a consumer's include path.
set(ADGRAPH_INCLUDE_DIR ${PROJECT_BINARY_DIR}/include)
file(MAKE_DIRECTORY ${ADGRAPH_INCLUDE_DIR}/adgraph)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/adgraph.h ${ADGRAPH_INCLUDE_DIR}/adgraph/adgraph.h SYMBOLIC)

# Warnings of our own sources (never propagated to consumers).
add_library(adgraph_warnings INTERFACE)
target_compile_options(adgraph_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(ADGRAPH_WERROR)
  target_compile_options(adgraph_warnings INTERFACE -Werror)
endif()

# adgraph_library(<name> SOURCES ... [PUBLIC deps...] [PRIVATE deps...] [PRIVATE_HEADERS paths...])
# Called in the library's folder. Target adgraph_<name>, alias and export name adgraph::<name>,
# file libadgraph_<name>.so/.a; headers <adgraph/<folder>/...>, installed except PRIVATE_HEADERS
# (files or subfolders, relative to the folder).
function(adgraph_library name)
  cmake_parse_arguments(L "" "" "SOURCES;PUBLIC;PRIVATE;PRIVATE_HEADERS" ${ARGN})
  set(t adgraph_${name})
  cmake_path(GET CMAKE_CURRENT_SOURCE_DIR FILENAME folder)
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${ADGRAPH_INCLUDE_DIR}/adgraph/${folder} SYMBOLIC)
  add_library(${t} ${L_SOURCES})
  add_library(adgraph::${name} ALIAS ${t})
  set_target_properties(${t} PROPERTIES
    EXPORT_NAME ${name}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}  # no ABI promise before 1.0
    INSTALL_RPATH "$ORIGIN")
  target_compile_features(${t} PUBLIC cxx_std_20)
  target_include_directories(${t} PUBLIC
    $<BUILD_INTERFACE:${ADGRAPH_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  get_target_property(type ${t} TYPE)
  if(type STREQUAL "SHARED_LIBRARY")
    # Private dependencies stay out of the exported interface: the .so records them itself.
    set(private)
    foreach(dep IN LISTS L_PRIVATE)
      list(APPEND private $<BUILD_INTERFACE:${dep}>)
    endforeach()
    # Export only ad:: (cmake/exports.map); calls inside the library bind directly.
    # Thread-locals (grad mode, the release work list) as initial-exec: no __tls_get_addr call per
    # access. Fine for a library linked at start-up or dlopen()ed into glibc's static TLS reserve.
    target_compile_options(${t} PRIVATE -fno-semantic-interposition -ftls-model=initial-exec)
    target_link_options(${t} PRIVATE
      "LINKER:--version-script=${PROJECT_SOURCE_DIR}/cmake/exports.map" "LINKER:-Bsymbolic-functions" "LINKER:--no-undefined")
    set_property(TARGET ${t} APPEND PROPERTY LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/exports.map)
  else()
    # A static library's consumer links its private dependencies too (the package config finds them).
    set(private ${L_PRIVATE})
  endif()
  target_link_libraries(${t} PUBLIC ${L_PUBLIC} PRIVATE $<BUILD_INTERFACE:adgraph_warnings> ${private})
  if(ADGRAPH_FUZZ)
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer-no-link)  # coverage feedback for libFuzzer
  endif()
  set_target_properties(${t} PROPERTIES ADGRAPH_FOLDER ${CMAKE_CURRENT_SOURCE_DIR}
    ADGRAPH_PRIVATE_HEADERS "${L_PRIVATE_HEADERS}")
  set_property(GLOBAL APPEND PROPERTY ADGRAPH_LIBRARIES ${t})
endfunction()
