# The library an embedder links, and how it is installed.
#
# 1. The public include directory: the headers of include/public_headers.txt
#    copied to <build>/public_include/ringraft/<path>, their includes of each
#    other rewritten to "ringraft/<path>" (cmake/rewrite_public_header.cmake).
#    That directory is what `cmake --install` puts under <prefix>/include.
# 2. One library with the whole runtime, built from the object files of the
#    internal static libraries raft_node links (raft_node, raft_driver,
#    raft_protocol, raft_core, raft_storage, raft_net, raft_checksum, ...;
#    found by walking raft_node's link libraries, so a new internal library
#    joins by itself): ringraft_static (libringraft.a) and ringraft_shared
#    (libringraft.so.<major>, SONAME from the project VERSION). Those objects
#    are compiled with -fPIC and -fvisibility=hidden: the shared library
#    exports only what the public headers mark RINGRAFT_API
#    (common/export.h). The internal targets stay as they are for the tests.
# 3. Install rules (RINGRAFT_INSTALL): headers, both libraries, the CMake
#    package (find_package(ringraft) -> ringraft::ringraft, with its
#    dependencies found by ringraftConfig.cmake), ringraft.pc, and the
#    Debian packages CPack builds from them (`./dev package`).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# --- 1. The public include directory -------------------------------------
set(_list ${PROJECT_SOURCE_DIR}/include/public_headers.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_list})
file(STRINGS ${_list} _public_headers REGEX "^[^#]")
set(RAFT_PUBLIC_INCLUDE_DIR ${PROJECT_BINARY_DIR}/public_include CACHE INTERNAL
  "The assembled public include directory")
set(_copy_commands)
set(_copy_sources)
foreach(h IN LISTS _public_headers)
  string(STRIP "${h}" h)
  # A header lives under include/ (the umbrella) or at its path in the tree;
  # its copy is ringraft/<path> (the umbrella already starts with ringraft/).
  set(_src ${PROJECT_SOURCE_DIR}/${h})
  if(EXISTS ${PROJECT_SOURCE_DIR}/include/${h})
    set(_src ${PROJECT_SOURCE_DIR}/include/${h})
  endif()
  set(_dst ${h})
  if(NOT h MATCHES "^ringraft/")
    set(_dst ringraft/${h})
  endif()
  get_filename_component(_dir ${_dst} DIRECTORY)
  list(APPEND _copy_commands
    COMMAND ${CMAKE_COMMAND} -E make_directory ${RAFT_PUBLIC_INCLUDE_DIR}/${_dir}
    COMMAND ${CMAKE_COMMAND} -DSRC=${_src} -DDST=${RAFT_PUBLIC_INCLUDE_DIR}/${_dst} -DLIST=${_list}
      -P ${PROJECT_SOURCE_DIR}/cmake/rewrite_public_header.cmake)
  list(APPEND _copy_sources ${_src})
endforeach()
set(_stamp ${PROJECT_BINARY_DIR}/public_include.stamp)
add_custom_command(OUTPUT ${_stamp}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${RAFT_PUBLIC_INCLUDE_DIR}
  ${_copy_commands}
  COMMAND ${CMAKE_COMMAND} -E touch ${_stamp}
  DEPENDS ${_copy_sources} ${_list} ${PROJECT_SOURCE_DIR}/cmake/rewrite_public_header.cmake
  COMMENT "Assembling the public include directory"
  VERBATIM)
add_custom_target(raft_public_include ALL DEPENDS ${_stamp})

# --- 2. The runtime library ------------------------------------------------
# Walks the link libraries of a target: internal static libraries (targets of
# this project) go to _RINGRAFT_OBJECT_LIBS, imported targets (Abseil,
# PkgConfig::*, spdlog, ...) to _RINGRAFT_EXTERNAL_DEPS.
function(_ringraft_walk target)
  get_property(_seen GLOBAL PROPERTY _RINGRAFT_SEEN)
  if(target IN_LIST _seen)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY _RINGRAFT_SEEN ${target})
  get_target_property(_imported ${target} IMPORTED)
  if(_imported)
    set_property(GLOBAL APPEND PROPERTY _RINGRAFT_EXTERNAL_DEPS ${target})
    return()
  endif()
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    get_target_property(_deps ${target} INTERFACE_LINK_LIBRARIES)
  else()
    if(NOT _type STREQUAL "STATIC_LIBRARY")
      message(FATAL_ERROR "ringraft: the runtime links ${target}, a ${_type}: only static "
        "libraries can go into libringraft")
    endif()
    set_property(GLOBAL APPEND PROPERTY _RINGRAFT_OBJECT_LIBS ${target})
    get_target_property(_deps ${target} LINK_LIBRARIES)
  endif()
  if(NOT _deps)
    return()
  endif()
  foreach(_d IN LISTS _deps)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _d "${_d}")
    if(NOT TARGET ${_d})
      # A system library by name (dl, rt, m) or flag (-pthread): linked as is.
      if(_d MATCHES "^(-l)?[A-Za-z0-9_+.-]+$" AND NOT _d MATCHES "::")
        set_property(GLOBAL APPEND PROPERTY _RINGRAFT_RAW_LINK ${_d})
        continue()
      endif()
      message(FATAL_ERROR "ringraft: ${target} links '${_d}', which is neither a target nor a "
        "system library name: the installed package could not name it "
        "(cmake/ringraft_package.cmake)")
    endif()
    get_target_property(_aliased ${_d} ALIASED_TARGET)
    if(_aliased)
      get_target_property(_alias_imported ${_aliased} IMPORTED)
      if(NOT _alias_imported)
        set(_d ${_aliased})
      endif()
    endif()
    _ringraft_walk(${_d})
  endforeach()
endfunction()
_ringraft_walk(raft_node)
get_property(RINGRAFT_OBJECT_LIBS GLOBAL PROPERTY _RINGRAFT_OBJECT_LIBS)
get_property(RINGRAFT_EXTERNAL_DEPS GLOBAL PROPERTY _RINGRAFT_EXTERNAL_DEPS)
get_property(RINGRAFT_RAW_LINK GLOBAL PROPERTY _RINGRAFT_RAW_LINK)
if(RINGRAFT_RAW_LINK)
  list(REMOVE_DUPLICATES RINGRAFT_RAW_LINK)
endif()

# What the public headers themselves need (Abseil status, statusor,
# any_invocable): a consumer compiles and links against these.
set(RINGRAFT_PUBLIC_DEPS absl::status absl::statusor absl::any_invocable)

set(_objects)
foreach(_lib IN LISTS RINGRAFT_OBJECT_LIBS)
  # -fno-semantic-interposition: the exported functions are not meant to be
  # interposed, so calls between them inline as in a static build.
  set_target_properties(${_lib} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(${_lib} PRIVATE
    $<$<CXX_COMPILER_ID:GNU>:-fno-semantic-interposition>)
  list(APPEND _objects $<TARGET_OBJECTS:${_lib}>)
endforeach()

foreach(_kind static shared)
  string(TOUPPER ${_kind} _KIND)
  set(_t ringraft_${_kind})
  add_library(${_t} ${_KIND} ${_objects})
  set_target_properties(${_t} PROPERTIES
    OUTPUT_NAME ringraft
    LINKER_LANGUAGE CXX
    EXPORT_NAME ringraft_${_kind}
    ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  add_dependencies(${_t} raft_public_include)
  target_include_directories(${_t} INTERFACE
    $<BUILD_INTERFACE:${RAFT_PUBLIC_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${_t} INTERFACE cxx_std_20)
  target_link_libraries(${_t} PUBLIC ${RINGRAFT_PUBLIC_DEPS}
    PRIVATE ${RINGRAFT_EXTERNAL_DEPS} ${RINGRAFT_RAW_LINK})
  add_library(ringraft::ringraft_${_kind} ALIAS ${_t})
endforeach()
set_target_properties(ringraft_shared PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
# Every symbol the runtime needs must come from a dependency it names (not
# under the sanitizers, whose runtimes are linked into the programs).
target_link_options(ringraft_shared PRIVATE
  $<$<NOT:$<CONFIG:Asan,Tsan>>:-Wl,--no-undefined>)
# In a parent project (add_subdirectory), ringraft::ringraft is the static
# library, as the installed package's default is the shared one.
add_library(ringraft::ringraft ALIAS ringraft_static)

if(NOT RINGRAFT_INSTALL)
  return()
endif()

# --- 3. Install rules, CMake package, pkg-config, CPack ---------------------
# `make install` and CPack install what is built and build nothing: without
# this, CPack's "preinstall" step builds every test and benchmark first.
# `./dev install` / `./dev package` build the installed targets themselves.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
# How the installed package finds each external dependency (CMake) and names
# it (pkg-config). A new dependency of the runtime must be added here.
set(_pc_private)
set(_cfg_deps "include(CMakeFindDependencyMacro)\n")
set(_pkg_modules URING=liburing LMDB=lmdb XXHASH=libxxhash TOMLPP=tomlplusplus)
set(_need_pkgconfig OFF)
set(_cfg_packages)
foreach(_d IN LISTS RINGRAFT_EXTERNAL_DEPS RINGRAFT_PUBLIC_DEPS)
  if(_d MATCHES "^absl::(.*)$")
    list(APPEND _cfg_packages absl)
    list(APPEND _pc_private absl_${CMAKE_MATCH_1})
  elseif(_d STREQUAL "spdlog::spdlog")
    list(APPEND _cfg_packages spdlog)
    list(APPEND _pc_private spdlog)
  elseif(_d STREQUAL "flatbuffers::flatbuffers")
    list(APPEND _cfg_packages FlatBuffers)
    list(APPEND _pc_private flatbuffers)
  elseif(_d STREQUAL "Threads::Threads")
    list(APPEND _cfg_packages Threads)
  elseif(_d MATCHES "^OpenSSL::")
    list(APPEND _cfg_packages OpenSSL)
    list(APPEND _pc_private openssl)
  elseif(_d MATCHES "^PkgConfig::(.*)$")
    set(_prefix ${CMAKE_MATCH_1})
    set(_module)
    foreach(_m IN LISTS _pkg_modules)
      if(_m MATCHES "^${_prefix}=(.*)$")
        set(_module ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(NOT _module)
      message(FATAL_ERROR "ringraft: the runtime links ${_d}: add its pkg-config module to "
        "_pkg_modules in cmake/ringraft_package.cmake")
    endif()
    set(_need_pkgconfig ON)
    string(APPEND _cfg_pkg "pkg_check_modules(${_prefix} QUIET IMPORTED_TARGET ${_module})\n"
      "if(NOT ${_prefix}_FOUND)\n"
      "  set(ringraft_FOUND FALSE)\n"
      "  set(ringraft_NOT_FOUND_MESSAGE \"ringraft needs ${_module} (pkg-config module ${_module} not found)\")\n"
      "  return()\n"
      "endif()\n")
    list(APPEND _pc_private ${_module})
  else()
    message(FATAL_ERROR "ringraft: the runtime links ${_d}: say in cmake/ringraft_package.cmake "
      "how the installed package finds it")
  endif()
endforeach()
list(REMOVE_DUPLICATES _cfg_packages)
foreach(_p IN LISTS _cfg_packages)
  string(APPEND _cfg_deps "find_dependency(${_p})\n")
endforeach()
if(_need_pkgconfig)
  string(APPEND _cfg_deps "find_dependency(PkgConfig)\n${_cfg_pkg}")
endif()
set(RINGRAFT_CONFIG_DEPENDENCIES "${_cfg_deps}")
list(REMOVE_DUPLICATES _pc_private)
set(_pc_public)
foreach(_d IN LISTS RINGRAFT_PUBLIC_DEPS)
  string(REGEX REPLACE "^absl::" "absl_" _m ${_d})
  list(APPEND _pc_public ${_m})
  list(REMOVE_ITEM _pc_private ${_m})
endforeach()
string(REPLACE ";" " " RINGRAFT_PC_REQUIRES "${_pc_public}")
string(REPLACE ";" " " RINGRAFT_PC_REQUIRES_PRIVATE "${_pc_private}")
set(RINGRAFT_PC_LIBS_PRIVATE -pthread)
foreach(_l IN LISTS RINGRAFT_RAW_LINK)
  if(_l MATCHES "^-")
    list(APPEND RINGRAFT_PC_LIBS_PRIVATE ${_l})
  else()
    list(APPEND RINGRAFT_PC_LIBS_PRIVATE -l${_l})
  endif()
endforeach()
list(REMOVE_DUPLICATES RINGRAFT_PC_LIBS_PRIVATE)
string(REPLACE ";" " " RINGRAFT_PC_LIBS_PRIVATE "${RINGRAFT_PC_LIBS_PRIVATE}")
# ringraft.pc finds the prefix from its own place, so the installed tree can
# move (cmake --install --prefix, CPack's /usr).
file(RELATIVE_PATH RINGRAFT_PC_PREFIX_FROM_PCFILEDIR
  /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" RINGRAFT_PC_PREFIX_FROM_PCFILEDIR "${RINGRAFT_PC_PREFIX_FROM_PCFILEDIR}")

install(DIRECTORY ${RAFT_PUBLIC_INCLUDE_DIR}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development)
install(TARGETS ringraft_static ringraft_shared EXPORT ringraftTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
    NAMELINK_COMPONENT development)
set(_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ringraft)
install(EXPORT ringraftTargets NAMESPACE ringraft:: DESTINATION ${_cmake_dir}
  COMPONENT development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ringraftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ringraftConfig.cmake INSTALL_DESTINATION ${_cmake_dir})
# 0.x: a minor version may break the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringraftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ringraftConfig.cmake ${PROJECT_BINARY_DIR}/ringraftConfigVersion.cmake
  DESTINATION ${_cmake_dir} COMPONENT development)
configure_file(${PROJECT_SOURCE_DIR}/cmake/ringraft.pc.in ${PROJECT_BINARY_DIR}/ringraft.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ringraft.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)

# CPack writes its configuration into the top-level build dir: only when
# this is the top-level project, never over a parent project's.
if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()
# Debian packages (`./dev package`, `cpack -G DEB` in the build dir):
#   libringraft0     libringraft.so.0; Depends computed by dpkg-shlibdeps
#   libringraft-dev  headers, libringraft.a, the .so link, CMake package, .pc
#   ringraft-tools   raftctl and memstore (when built)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ringraft)
set(CPACK_PACKAGE_VENDOR ringraft)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "C++20 Raft engine on io_uring, TCP + FlatBuffers and LMDB")
set(CPACK_PACKAGE_CONTACT "ringraft maintainers <ringraft@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
if(_ringraft_tools OR _ringraft_examples)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file (libringraft 0 libringraft0 (>= <version>)) and the ldconfig
# trigger for the runtime package.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libringraft${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libringraft-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The headers include Abseil's; the static library and the CMake package
# need the other libraries' development packages.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "libringraft${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}), libabsl-dev, liburing-dev, liblmdb-dev, libxxhash-dev, libtomlplusplus-dev, libspdlog-dev, libflatbuffers-dev, libssl-dev, pkg-config")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
  "ringraft, a C++20 Raft engine on io_uring, TCP + FlatBuffers and LMDB: the shared library")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
  "ringraft, a C++20 Raft engine: headers, static library, CMake package and pkg-config file")
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
  "ringraft, a C++20 Raft engine: raftctl (operator tool) and memstore (example key-value node)")
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME ringraft-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION net)
include(CPack)
