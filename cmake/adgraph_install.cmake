# Install rules: headers under include/adgraph/, libraries, the CMake package (adgraphConfig.cmake,
# version file, exported targets adgraph::*), a pkg-config file, and the Debian package (cpack -G DEB).
include(CMakePackageConfigHelpers)

install(TARGETS ${ADGRAPH_LIBRARIES} adgraph_all
  EXPORT adgraphTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT adgraph
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT adgraph
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT adgraph
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Public headers: every header of a library's folder except its private ones.
foreach(t IN LISTS ADGRAPH_LIBRARIES)
  get_target_property(dir ${t} ADGRAPH_FOLDER)
  get_target_property(private ${t} ADGRAPH_PRIVATE_HEADERS)
  cmake_path(GET dir FILENAME folder)
  set(excludes)
  foreach(p IN LISTS private)
    list(APPEND excludes PATTERN ${p} EXCLUDE)
  endforeach()
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/adgraph/${folder} COMPONENT adgraph
    FILES_MATCHING PATTERN "*.h" ${excludes})
endforeach()
install(FILES adgraph.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/adgraph COMPONENT adgraph)
install(FILES data/files/digits.csv data/files/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/adgraph COMPONENT adgraph)

set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/adgraph)
install(EXPORT adgraphTargets NAMESPACE adgraph:: DESTINATION ${cmake_dir} COMPONENT adgraph)
get_target_property(ADGRAPH_LIBRARY_TYPE adgraph_autodiff TYPE)
configure_package_config_file(cmake/adgraphConfig.cmake.in ${PROJECT_BINARY_DIR}/adgraphConfig.cmake
  INSTALL_DESTINATION ${cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/adgraphConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/adgraphConfig.cmake ${PROJECT_BINARY_DIR}/adgraphConfigVersion.cmake
  DESTINATION ${cmake_dir} COMPONENT adgraph)

# Relocatable: the prefix is found from the .pc file's own place (the .deb installs under /usr).
file(RELATIVE_PATH ADGRAPH_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" ADGRAPH_PC_TO_PREFIX "${ADGRAPH_PC_TO_PREFIX}")
set(ADGRAPH_PC_LIBS)
set(reversed ${ADGRAPH_LIBRARIES})
list(REVERSE reversed)  # a library before the ones it depends on
foreach(t IN LISTS reversed)
  string(APPEND ADGRAPH_PC_LIBS " -l${t}")
endforeach()
set(ADGRAPH_PC_PRIVATE "")
if(ADGRAPH_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(ADGRAPH_PC_PRIVATE "Requires.private: openblas cairo spdlog\nLibs.private: -ldnnl -lhwy -fopenmp")
endif()
configure_file(cmake/adgraph.pc.in ${PROJECT_BINARY_DIR}/adgraph.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/adgraph.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT adgraph)

# Debian package: `cpack -G DEB` in the build directory writes libadgraph-dev_<version>_<arch>.deb.
if(PROJECT_IS_TOP_LEVEL)
  set(CPACK_PACKAGE_NAME libadgraph-dev)
  set(CPACK_PACKAGE_VENDOR "adgraph developers")
  set(CPACK_PACKAGE_CONTACT "adgraph developers <adgraph@localhost>")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_COMPONENTS_ALL adgraph)  # not the tests, examples or benches
  set(CPACK_DEB_COMPONENT_INSTALL OFF)
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # runtime libraries (OpenBLAS, cairo, spdlog, libstdc++) from the .so files
  # Headers the public headers include (Boost.Container), and what a consumer's build needs.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libboost-container-dev (>= 1.74)")
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake (>= 3.25), pkg-config, graphviz")
  include(CPack)
endif()
